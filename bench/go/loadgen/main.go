// loadgen: a load generator on etcd 3.4's Go client (clientv3), so that a tsetcd-vs-etcd
// figure never depends on our own TypeScript client alone (bench/README.md, "Go client").
// Built offline by bench/go-client.ts from Debian's golang-etcd-server-dev sources
// (GOPATH=/usr/share/gocode, GO111MODULE=off), into a temp dir.
//
// Workloads (flags named as etcd's tools/benchmark):
//
//	put        Put{key, value}, keys uniform over --key-space-size or --sequential-keys
//	txn-put    Txn{success: --txn-ops Puts on distinct keys}
//	range      Get(key) of a stored key, --consistency l (linearizable) or s (serializable)
//	load       keys [--from, --to) written once each, in order, by --clients clients:
//	           the scale profile's load phase; reports the worst latency and the
//	           throughput of every second
//	mix        kube-apiserver-like over the loaded keys [--from, --to): paced writers,
//	           paginated listers, a prev_kv watcher and lease churn (mix.go)
//
// --clients request loops share --conns clientv3.Client connections (client c uses
// connection c mod conns), each over mTLS when --cacert/--cert/--key are given.
// Values are random (a pool of 1,024 distinct random values per run), so compression
// flatters neither server. Output: one JSON object on stdout (see Result).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/pkg/transport"
)

type Latency struct {
	Count  int     `json:"count"`
	MinMs  float64 `json:"minMs"`
	AvgMs  float64 `json:"avgMs"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P99Ms  float64 `json:"p99Ms"`
	P999Ms float64 `json:"p999Ms"`
	MaxMs  float64 `json:"maxMs"`
}

type Result struct {
	Workload            string           `json:"workload"`
	Client              string           `json:"client"`
	OkOps               int64            `json:"okOps"`
	ErrorOps            int64            `json:"errorOps"`
	ElapsedMs           float64          `json:"elapsedMs"`
	ThroughputOpsPerSec float64          `json:"throughputOpsPerSec"`
	Latency             Latency          `json:"latency"`
	Errors              map[string]int64 `json:"errors"`
	// load: ops completed in each whole second of the measured window.
	PerSecond []int64 `json:"perSecond,omitempty"`
	// The generator's own CPU (user + system, all threads) and wall time since start.
	CPUSeconds  float64 `json:"cpuSeconds"`
	WallSeconds float64 `json:"wallSeconds"`
	// mix: lists, watch and lease figures (the top level holds the writes').
	Mix *MixResult `json:"mix,omitempty"`
}

type opts struct {
	workload, endpoints, cacert, cert, key, consistency, prefix string
	clients, conns, total, keySize, valSize, keySpace, txnOps   int
	from, to                                                    int
	listers, listObjects, pageSize, rate, leaseTTL              int
	writeOp                                                     string
	duration, warmup, timeout                                   time.Duration
	sequential                                                  bool
	seed                                                        int64
}

func parse() opts {
	var o opts
	flag.StringVar(&o.workload, "workload", "put", "put | txn-put | range | load | mix")
	flag.StringVar(&o.endpoints, "endpoints", "127.0.0.1:2379", "comma-separated; connection j uses endpoint j mod n")
	flag.StringVar(&o.cacert, "cacert", "", "CA file")
	flag.StringVar(&o.cert, "cert", "", "client certificate")
	flag.StringVar(&o.key, "key", "", "client key")
	flag.StringVar(&o.consistency, "consistency", "l", "range: l or s")
	flag.StringVar(&o.prefix, "prefix", "/g/", "key prefix")
	flag.IntVar(&o.clients, "clients", 1, "concurrent request loops")
	flag.IntVar(&o.conns, "conns", 1, "clientv3 clients (gRPC connections)")
	flag.IntVar(&o.total, "total", 0, "requests in total (0: --duration)")
	flag.IntVar(&o.keySize, "key-size", 16, "key bytes (prefix included, zero-padded)")
	flag.IntVar(&o.valSize, "val-size", 1024, "value bytes")
	flag.IntVar(&o.keySpace, "key-space-size", 100000, "distinct keys")
	flag.IntVar(&o.txnOps, "txn-ops", 1, "txn-put: puts per txn")
	flag.IntVar(&o.from, "from", 0, "load: first key index")
	flag.IntVar(&o.to, "to", 0, "load: end key index (exclusive)")
	flag.IntVar(&o.listers, "listers", 2, "mix: paginated list loops")
	flag.IntVar(&o.listObjects, "list-objects", 10000, "mix: objects per list")
	flag.IntVar(&o.pageSize, "page-size", 500, "mix: objects per page (Range limit)")
	flag.IntVar(&o.rate, "rate", 0, "mix: writes/s over all writers (0: as fast as answered)")
	flag.IntVar(&o.leaseTTL, "lease-ttl", 30, "mix: TTL of the churned leases in seconds (0: no lease churn)")
	flag.StringVar(&o.writeOp, "write-op", "txn", "mix: txn (MOD==rev ? Put : Get) or put")
	flag.DurationVar(&o.duration, "duration", 0, "measured time (when --total is 0)")
	flag.DurationVar(&o.warmup, "warmup", 0, "unmeasured time before measuring")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.BoolVar(&o.sequential, "sequential-keys", false, "keys in order instead of uniform")
	flag.Int64Var(&o.seed, "seed", 1, "random seed")
	flag.Parse()
	return o
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", a...)
	os.Exit(2)
}

func connect(o opts) []*clientv3.Client {
	var tlsCfg *tls.Config
	if o.cacert != "" {
		info := transport.TLSInfo{TrustedCAFile: o.cacert, CertFile: o.cert, KeyFile: o.key}
		c, err := info.ClientConfig()
		if err != nil {
			fail("tls: %v", err)
		}
		tlsCfg = c
	}
	eps := strings.Split(o.endpoints, ",")
	out := make([]*clientv3.Client, o.conns)
	for j := range out {
		ep := eps[j%len(eps)]
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 10 * time.Second, TLS: tlsCfg})
		if err != nil {
			fail("connect %s: %v", ep, err)
		}
		out[j] = c
	}
	return out
}

// keyOf formats index i as a key of o.keySize bytes: the prefix, then i zero-padded.
func keyOf(o opts, i int) string {
	n := o.keySize - len(o.prefix)
	if n < 10 {
		n = 10
	}
	return fmt.Sprintf("%s%0*d", o.prefix, n, i)
}

func summarize(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	q := func(p float64) float64 {
		i := int(p * float64(len(lat)-1))
		return ms(lat[i])
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return Latency{
		Count: len(lat), MinMs: ms(lat[0]), AvgMs: ms(sum) / float64(len(lat)),
		P50Ms: q(0.5), P90Ms: q(0.9), P99Ms: q(0.99), P999Ms: q(0.999), MaxMs: ms(lat[len(lat)-1]),
	}
}

type worker struct {
	lat    []time.Duration
	ok     int64
	errs   map[string]int64
	perSec map[int64]int64
}

func main() {
	o := parse()
	if o.clients < o.conns || o.conns < 1 {
		fail("need 1 <= --conns <= --clients")
	}
	if o.workload == "load" && o.to <= o.from {
		fail("load needs --from < --to")
	}
	if o.workload == "mix" && (o.to <= o.from || o.duration == 0) {
		fail("mix needs --from < --to and --duration")
	}
	if o.workload != "load" && o.total == 0 && o.duration == 0 {
		fail("give --total or --duration")
	}
	start0 := time.Now()
	conns := connect(o)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	rng := rand.New(rand.NewSource(o.seed))
	values := make([]string, 1024)
	for i := range values {
		b := make([]byte, o.valSize)
		rng.Read(b)
		values[i] = string(b)
	}
	if o.workload == "mix" {
		emit(runMix(o, conns, values), start0)
		return
	}
	bg := context.Background()
	if o.workload == "range" {
		// The key space is stored before measuring (not measured).
		var wg sync.WaitGroup
		var next int64 = -1
		for c := 0; c < o.clients; c++ {
			wg.Add(1)
			go func(kv clientv3.KV) {
				defer wg.Done()
				for {
					i := int(atomic.AddInt64(&next, 1))
					if i >= o.keySpace {
						return
					}
					if _, err := kv.Put(bg, keyOf(o, i), values[i%len(values)]); err != nil {
						fail("storing the range key space: %v", err)
					}
				}
			}(conns[c%len(conns)])
		}
		wg.Wait()
	}
	var getOpts []clientv3.OpOption
	if o.consistency == "s" {
		getOpts = append(getOpts, clientv3.WithSerializable())
	}

	var issued, seqNext int64 = 0, int64(o.from) - 1
	var measuring int32
	start := time.Now()
	measureStart := start
	if o.warmup > 0 {
		go func() {
			time.Sleep(o.warmup)
			atomic.StoreInt32(&measuring, 1)
		}()
	} else {
		atomic.StoreInt32(&measuring, 1)
	}
	var deadline time.Time
	if o.total == 0 && o.workload != "load" {
		deadline = start.Add(o.warmup + o.duration)
	}
	measureStart = start.Add(o.warmup)

	workers := make([]*worker, o.clients)
	var wg sync.WaitGroup
	for c := 0; c < o.clients; c++ {
		w := &worker{errs: map[string]int64{}, perSec: map[int64]int64{}}
		workers[c] = w
		wg.Add(1)
		go func(c int, w *worker, kv clientv3.KV) {
			defer wg.Done()
			r := rand.New(rand.NewSource(o.seed*1000 + int64(c)))
			for n := 0; ; n++ {
				var key int
				switch {
				case o.workload == "load":
					key = int(atomic.AddInt64(&seqNext, 1))
					if key >= o.to {
						return
					}
				case o.total > 0:
					if atomic.AddInt64(&issued, 1) > int64(o.total) {
						return
					}
					fallthrough
				default:
					if !deadline.IsZero() && time.Now().After(deadline) {
						return
					}
					if o.sequential {
						key = int(atomic.AddInt64(&seqNext, 1)) % o.keySpace
					} else {
						key = r.Intn(o.keySpace)
					}
				}
				val := values[r.Intn(len(values))]
				ctx, cancel := context.WithTimeout(bg, o.timeout)
				t0 := time.Now()
				var err error
				switch o.workload {
				case "put", "load":
					_, err = kv.Put(ctx, keyOf(o, key), val)
				case "txn-put":
					ops := make([]clientv3.Op, o.txnOps)
					for i := range ops {
						ops[i] = clientv3.OpPut(keyOf(o, (key+i)%o.keySpace), val)
					}
					_, err = kv.Txn(ctx).Then(ops...).Commit()
				case "range":
					_, err = kv.Get(ctx, keyOf(o, key), getOpts...)
				default:
					fail("unknown workload %q", o.workload)
				}
				d := time.Since(t0)
				cancel()
				if atomic.LoadInt32(&measuring) == 0 {
					continue
				}
				if err != nil {
					w.errs[err.Error()]++
					continue
				}
				w.ok++
				w.lat = append(w.lat, d)
				if o.workload == "load" {
					w.perSec[int64(time.Since(measureStart)/time.Second)]++
				}
			}
		}(c, w, conns[c%len(conns)])
	}
	wg.Wait()
	elapsed := time.Since(measureStart)

	res := Result{Workload: o.workload, Client: "go clientv3 3.4", Errors: map[string]int64{}}
	var all []time.Duration
	perSec := map[int64]int64{}
	for _, w := range workers {
		res.OkOps += w.ok
		all = append(all, w.lat...)
		for k, v := range w.errs {
			res.Errors[k] += v
			res.ErrorOps += v
		}
		for k, v := range w.perSec {
			perSec[k] += v
		}
	}
	res.ElapsedMs = float64(elapsed) / 1e6
	res.ThroughputOpsPerSec = float64(res.OkOps) / elapsed.Seconds()
	res.Latency = summarize(all)
	if o.workload == "load" {
		secs := int64(elapsed / time.Second)
		for s := int64(0); s < secs; s++ {
			res.PerSecond = append(res.PerSecond, perSec[s])
		}
	}
	emit(res, start)
}

// emit prints res with the generator's own CPU and wall time since `since`.
func emit(res Result, since time.Time) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		res.CPUSeconds = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	res.WallSeconds = time.Since(since).Seconds()
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fail("json: %v", err)
	}
}
