// The `mix` workload: what a kube-apiserver asks of etcd at scale, over keys already
// loaded by the `load` workload ([--from, --to) under --prefix, --key-size bytes), for
// the scale profile's mix step (bench/scale-mix.ts, bench/README.md "Scale").
//
//	writers   --clients loops over --conns connections, paced to --rate writes/s in all
//	          (0: as fast as answered), each updating a random loaded key. --write-op=txn
//	          (kube-apiserver's GuaranteedUpdate): Txn{MOD(key)==rev ? Put : Get(key)},
//	          rev from a revision cache filled before measuring and kept current by the
//	          watcher (kube's watch cache); on a conflict the cache takes the revision the
//	          failure Get returned and the update is retried once. The write latency is
//	          the whole update, retry included. --write-op=put: a plain Put.
//	listers   --listers loops, each listing --list-objects consecutive loaded objects
//	          from a random start (the range ends where they end, as a list of a
//	          namespace holding that many objects), --page-size per Range (limit), the next page from
//	          lastKey+"\x00", every page pinned to the first page's header revision
//	          (kube's reflector, page size 500); measures each page and the whole list;
//	          a list that does not return exactly --list-objects objects is an error.
//	watcher   one Watch on --prefix with prev_kv from the revision after the cache fill;
//	          a non-create event without prev_kv is an error ("watch event without
//	          prev_kv"); after the measured window it waits (up to 10 s) for the events of
//	          every write, and events missing then are errors.
//	leases    one loop: Grant(--lease-ttl), Put(--prefix+"lease-N") with the lease,
//	          Revoke (the key's delete reaches the watcher too); measures the cycle.
//
// Listers, watcher and lease loop share one connection of their own. Only what
// completes inside the measured window (after --warmup, --duration long) is counted.
package main

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

// MixResult is the mix's own part of the output (Result.Mix). The top-level Result's
// ops, latency and throughput are the writes'.
type MixResult struct {
	WriteOp       string  `json:"writeOp"`
	Lists         int64   `json:"lists"`
	ListObjects   int     `json:"listObjects"`
	List          Latency `json:"list"`
	Page          Latency `json:"page"`
	Conflicts     int64   `json:"conflicts"`
	WatchEvents   int64   `json:"watchEvents"`
	WatchExpected int64   `json:"watchExpected"`
	PrevKvMissing int64   `json:"prevKvMissing"`
	LeaseCycles   int64   `json:"leaseCycles"`
	Lease         Latency `json:"lease"`
}

// errTally counts errors by message, shared by the goroutines of the mix.
type errTally struct {
	mu sync.Mutex
	m  map[string]int64
}

func (t *errTally) add(msg string, n int64) {
	t.mu.Lock()
	t.m[msg] += n
	t.mu.Unlock()
}

// latencies collects durations from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func runMix(o opts, conns []*clientv3.Client, values []string) Result {
	if o.to-o.from < o.listObjects || o.listObjects < 1 || o.pageSize < 1 {
		fail("mix needs 1 <= --list-objects <= --to - --from and --page-size >= 1")
	}
	if o.writeOp != "txn" && o.writeOp != "put" {
		fail("--write-op: txn or put, not %q", o.writeOp)
	}
	bg := context.Background()
	ctl := connect(opts{endpoints: o.endpoints, cacert: o.cacert, cert: o.cert, key: o.key, conns: 1})[0]
	defer ctl.Close()

	// The revision cache: the mod revision of every loaded key (unmeasured setup, keys
	// only), read in ranges of 10k keys at one revision. Each Range ends where its 10k
	// keys end: with the whole rest as its end, a limited Range still costs etcd 3.4 a
	// walk of everything up to that end (its count).
	n := o.to - o.from
	revs := make([]int64, n)
	var fillRev int64
	for i := o.from; i < o.to; i += 10000 {
		end := i + 10000
		if end > o.to {
			end = o.to
		}
		r, err := ctl.Get(bg, keyOf(o, i), clientv3.WithRange(keyOf(o, end)), clientv3.WithKeysOnly(), clientv3.WithRev(fillRev))
		if err != nil {
			fail("reading the loaded keys' revisions: %v", err)
		}
		if fillRev == 0 {
			fillRev = r.Header.Revision
		}
		for _, kv := range r.Kvs {
			if j, ok := indexOf(o, string(kv.Key)); ok && j >= o.from && j < o.to {
				revs[j-o.from] = kv.ModRevision
			}
		}
	}

	errs := &errTally{m: map[string]int64{}}
	var measuring int32
	start := time.Now()
	measureStart := start.Add(o.warmup)
	deadline := measureStart.Add(o.duration)
	time.AfterFunc(o.warmup, func() { atomic.StoreInt32(&measuring, 1) })
	counted := func() bool { return atomic.LoadInt32(&measuring) == 1 && time.Now().Before(deadline) }
	res := MixResult{WriteOp: o.writeOp, ListObjects: o.listObjects}

	// The watcher: from the revision after the fill, so it misses nothing written later.
	var events, expected, missing int64
	wctx, wcancel := context.WithCancel(bg)
	defer wcancel()
	wch := ctl.Watch(wctx, o.prefix, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(fillRev+1))
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for wr := range wch {
			if err := wr.Err(); err != nil {
				errs.add("watch: "+err.Error(), 1)
				continue
			}
			for _, ev := range wr.Events {
				if i, ok := indexOf(o, string(ev.Kv.Key)); ok && i >= o.from && i < o.to {
					atomic.StoreInt64(&revs[i-o.from], ev.Kv.ModRevision)
				}
				if !ev.IsCreate() && ev.PrevKv == nil {
					atomic.AddInt64(&missing, 1)
				}
				atomic.AddInt64(&events, 1)
			}
		}
	}()

	var wg sync.WaitGroup
	// Writers.
	writeLat := &latencies{}
	var writesOk int64
	for c := 0; c < o.clients; c++ {
		wg.Add(1)
		go func(c int, kv clientv3.KV) {
			defer wg.Done()
			r := rand.New(rand.NewSource(o.seed*1000 + int64(c)))
			var interval time.Duration
			if o.rate > 0 {
				interval = time.Duration(float64(time.Second) * float64(o.clients) / float64(o.rate))
			}
			due := start.Add(time.Duration(r.Int63n(int64(interval) + 1)))
			for {
				if interval > 0 {
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					due = due.Add(interval)
				}
				if !time.Now().Before(deadline) {
					return
				}
				i := r.Intn(n)
				key := keyOf(o, o.from+i)
				val := values[r.Intn(len(values))]
				t0 := time.Now()
				applied, conflicts, err := update(bg, o, kv, key, val, &revs[i])
				d := time.Since(t0)
				// Every applied write is an event the watcher must deliver, counted or not.
				atomic.AddInt64(&expected, applied)
				if !counted() {
					continue
				}
				atomic.AddInt64(&res.Conflicts, conflicts)
				if err != nil {
					errs.add("write: "+err.Error(), 1)
					continue
				}
				atomic.AddInt64(&writesOk, 1)
				writeLat.add(d)
			}
		}(c, conns[c%len(conns)])
	}
	// Listers.
	listLat, pageLat := &latencies{}, &latencies{}
	for l := 0; l < o.listers; l++ {
		wg.Add(1)
		go func(l int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(o.seed*1000 + 500 + int64(l)))
			for time.Now().Before(deadline) {
				s := o.from + r.Intn(n-o.listObjects+1)
				t0 := time.Now()
				got, pages, err := list(bg, o, ctl, keyOf(o, s), keyOf(o, s+o.listObjects))
				d := time.Since(t0)
				if !counted() {
					continue
				}
				if err == nil && got != o.listObjects {
					err = fmt.Errorf("a list returned %d objects, want %d", got, o.listObjects)
				}
				if err != nil {
					errs.add("list: "+err.Error(), 1)
					continue
				}
				atomic.AddInt64(&res.Lists, 1)
				listLat.add(d)
				for _, p := range pages {
					pageLat.add(p)
				}
			}
		}(l)
	}
	// Lease churn.
	leaseLat := &latencies{}
	if o.leaseTTL > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			val := values[0]
			for cycle := 0; time.Now().Before(deadline); cycle++ {
				t0 := time.Now()
				applied, err := leaseCycle(bg, o, ctl, fmt.Sprintf("%slease-%d", o.prefix, cycle), val)
				d := time.Since(t0)
				atomic.AddInt64(&expected, applied)
				if !counted() {
					continue
				}
				if err != nil {
					errs.add("lease: "+err.Error(), 1)
					continue
				}
				atomic.AddInt64(&res.LeaseCycles, 1)
				leaseLat.add(d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(measureStart)
	if elapsed > o.duration {
		elapsed = o.duration
	}

	// Wait for the watcher to deliver every applied write's event, 10 s at most.
	for wait := time.Now().Add(10 * time.Second); atomic.LoadInt64(&events) < atomic.LoadInt64(&expected) && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
	}
	wcancel()
	<-watchDone
	res.WatchEvents = atomic.LoadInt64(&events)
	res.WatchExpected = atomic.LoadInt64(&expected)
	res.PrevKvMissing = atomic.LoadInt64(&missing)
	if res.PrevKvMissing > 0 {
		errs.add("watch event without prev_kv", res.PrevKvMissing)
	}
	if res.WatchEvents < res.WatchExpected {
		errs.add("watch events missing", res.WatchExpected-res.WatchEvents)
	}
	res.List = summarize(listLat.d)
	res.Page = summarize(pageLat.d)
	res.Lease = summarize(leaseLat.d)

	out := Result{Workload: "mix", Client: "go clientv3 3.4", Errors: errs.m, OkOps: writesOk, Mix: &res}
	for _, v := range errs.m {
		out.ErrorOps += v
	}
	out.ElapsedMs = float64(elapsed) / 1e6
	out.ThroughputOpsPerSec = float64(writesOk) / elapsed.Seconds()
	out.Latency = summarize(writeLat.d)
	return out
}

// indexOf is keyOf's inverse: the index of a loaded key, or false for other keys.
func indexOf(o opts, key string) (int, bool) {
	if !strings.HasPrefix(key, o.prefix) {
		return 0, false
	}
	i, err := strconv.Atoi(key[len(o.prefix):])
	return i, err == nil
}

// update writes key once as --write-op says; applied is how many writes took effect
// (0 or 1), conflicts how many compares failed.
func update(bg context.Context, o opts, kv clientv3.KV, key, val string, rev *int64) (applied, conflicts int64, err error) {
	ctx, cancel := context.WithTimeout(bg, o.timeout)
	defer cancel()
	if o.writeOp == "put" {
		if _, err := kv.Put(ctx, key, val); err != nil {
			return 0, 0, err
		}
		return 1, 0, nil
	}
	for attempt := 0; attempt < 2; attempt++ {
		known := atomic.LoadInt64(rev)
		r, err := kv.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", known)).
			Then(clientv3.OpPut(key, val)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return 0, conflicts, err
		}
		if r.Succeeded {
			casRev(rev, known, r.Header.Revision)
			return 1, conflicts, nil
		}
		conflicts++
		if len(r.Responses) == 1 {
			if kvs := r.Responses[0].GetResponseRange().GetKvs(); len(kvs) == 1 {
				casRev(rev, known, kvs[0].ModRevision)
			}
		}
	}
	return 0, conflicts, nil
}

// casRev moves the cached revision forward only (the watcher may already know a later one).
func casRev(rev *int64, old, next int64) {
	for cur := old; cur < next; cur = atomic.LoadInt64(rev) {
		if atomic.CompareAndSwapInt64(rev, cur, next) {
			return
		}
	}
}

// list reads [from, end) in pages pinned to the first page's revision; returns the
// object count and each page's latency.
func list(bg context.Context, o opts, kv clientv3.KV, from, end string) (int, []time.Duration, error) {
	var rev int64
	got := 0
	var pages []time.Duration
	for next := from; ; {
		ctx, cancel := context.WithTimeout(bg, o.timeout)
		t0 := time.Now()
		r, err := kv.Get(ctx, next, clientv3.WithRange(end), clientv3.WithLimit(int64(o.pageSize)), clientv3.WithRev(rev))
		pages = append(pages, time.Since(t0))
		cancel()
		if err != nil {
			return got, pages, err
		}
		if rev == 0 {
			rev = r.Header.Revision
		}
		got += len(r.Kvs)
		if !r.More || len(r.Kvs) == 0 {
			return got, pages, nil
		}
		next = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
	}
}

// leaseCycle grants a lease, puts key with it and revokes it; applied counts the writes
// the watcher sees (the put and the revoke's delete).
func leaseCycle(bg context.Context, o opts, c *clientv3.Client, key, val string) (int64, error) {
	ctx, cancel := context.WithTimeout(bg, o.timeout)
	defer cancel()
	g, err := c.Grant(ctx, int64(o.leaseTTL))
	if err != nil {
		return 0, err
	}
	if _, err := c.Put(ctx, key, val, clientv3.WithLease(g.ID)); err != nil {
		return 0, err
	}
	if _, err := c.Revoke(ctx, g.ID); err != nil {
		return 1, err
	}
	return 2, nil
}
