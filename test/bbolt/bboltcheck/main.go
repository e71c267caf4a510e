// bboltcheck opens a bbolt file with the real bbolt (Debian's go.etcd.io/bbolt 1.3.6),
// runs tx.Check() and dumps every bucket and entry, so test/bbolt can compare what real
// bbolt sees in a file our writer made with what our reader sees.
//
// Usage: bboltcheck FILE. Output lines (hex is lowercase, path components joined by "/"):
//
//	meta <pageSize> <pgid> <txid>
//	bucket <path>
//	kv <path> <keyhex> <valuehex>
//	checkerr <message>     (one per tx.Check error; exit status 2 when any)
//
// The file is opened read-only; a file whose size exceeds pgid*pageSize (an etcd
// snapshot's SHA-256 trailer) is fine, bbolt reads only the image.
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
)

func dump(w *bufio.Writer, path []string, b *bolt.Bucket) error {
	p := strings.Join(path, "/")
	fmt.Fprintf(w, "bucket %s\n", p)
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			child := b.Bucket(k)
			if child == nil {
				return fmt.Errorf("nil value but no bucket at %s/%x", p, k)
			}
			return dump(w, append(append([]string{}, path...), hex.EncodeToString(k)), child)
		}
		fmt.Fprintf(w, "kv %s %s %s\n", p, hex.EncodeToString(k), hex.EncodeToString(v))
		return nil
	})
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bboltcheck FILE")
		os.Exit(64)
	}
	db, err := bolt.Open(os.Args[1], 0400, &bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer db.Close()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	bad := false
	err = db.View(func(tx *bolt.Tx) error {
		fmt.Fprintf(w, "meta %d %d %d\n", db.Info().PageSize, tx.Size()/int64(db.Info().PageSize), tx.ID())
		for e := range tx.Check() {
			bad = true
			fmt.Fprintf(w, "checkerr %s\n", e)
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return dump(w, []string{hex.EncodeToString(name)}, b)
		})
	})
	if err != nil {
		w.Flush()
		fmt.Fprintln(os.Stderr, "view:", err)
		os.Exit(1)
	}
	if bad {
		w.Flush()
		os.Exit(2)
	}
}
