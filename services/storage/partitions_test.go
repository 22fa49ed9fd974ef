package storage

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/services/storage/log"
	"github.com/strata-io/strata/services/storage/log/faultfs"
)

// testHost is a replicaHost for replicas outside a running node.
type testHost struct{ failed atomic.Int32 }

func (h *testHost) registration() (int32, int64)                     { return 1, 1 }
func (h *testHost) controller() controllerv1.ControllerServiceClient { return nil }
func (h *testHost) context() context.Context                         { return context.Background() }
func (h *testHost) logger() *slog.Logger                             { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (h *testHost) replicaFailed(*replica)                           { h.failed.Add(1) }
func (h *testHost) isrChanged(string)                                {}

// waitTold fails the test unless the host is told of a failed replica
// exactly once. A log's failure hook runs on its own goroutine: it may be
// what took the replica offline, and tell the host just after.
func (h *testHost) waitTold(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); h.failed.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := h.failed.Load(); n != 1 {
		t.Fatalf("host told %d times, want 1", n)
	}
}

func testAssignment(topic string, p int32, id string) assignment {
	return assignment{key: partitionKey{topic, p}, topicID: id, cfg: log.DefaultConfig(), cfgSig: "[]", minISR: 1}
}

func keepAll(string, int32, string) bool { return true }

func batch(t *testing.T, values ...string) []byte {
	t.Helper()
	var recs []recordbatch.BuildRecord
	for _, v := range values {
		recs = append(recs, recordbatch.BuildRecord{Value: []byte(v), Timestamp: 1})
	}
	b, err := recordbatch.Build(recordbatch.ProducerOptions(codec.None), recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withData opens a replica of topic t-0, appends records and closes it.
func withData(t *testing.T, dir, id string, n int) {
	t.Helper()
	ps := newPartitions(dir)
	if err := ps.reconcile([]assignment{testAssignment("t", 0, id)}, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	r, _ := ps.get("t", 0)
	for i := 0; i < n; i++ {
		if _, err := r.log.Append(batch(t, "v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if !ps.closeAll() {
		t.Fatal("close failed")
	}
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "t-0", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReplicaThatFailsToOpenIsOfflineAndKeepsItsData(t *testing.T) {
	dir := t.TempDir()
	withData(t, dir, "aa", 3)
	before := segmentFiles(t, dir)
	// The replica's metadata file cannot be read (EISDIR stands for EIO).
	meta := filepath.Join(dir, "t-0", partitionMetaFile)
	if err := os.Rename(meta, meta+".bak"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	host := &testHost{}
	ps := newPartitions(dir)
	// Even with metadata saying "not wanted", an unreadable replica stays.
	err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, func(string, int32, string) bool { return false }, host)
	if err == nil {
		t.Fatal("reconcile reported no error for a replica that cannot open")
	}
	r, ok := ps.get("t", 0)
	if !ok || r.offline.Load() == nil || r.offlineErr() == nil {
		t.Fatalf("replica not offline: %v %v", ok, r)
	}
	if host.failed.Load() != 1 {
		t.Fatalf("host told %d times, want 1", host.failed.Load())
	}
	if after := segmentFiles(t, dir); len(after) != len(before) || len(after) == 0 {
		t.Fatalf("segments before %v, after %v", before, after)
	}
	// Once the fault is gone a later reconcile opens it with every record.
	if err := os.Remove(meta); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(meta+".bak", meta); err != nil {
		t.Fatal(err)
	}
	r.offline.Load().since = r.offline.Load().since.Add(-openRetryEvery)
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, host); err != nil {
		t.Fatal(err)
	}
	r, _ = ps.get("t", 0)
	if r.offline.Load() != nil || r.log.LogEndOffset() != 3 {
		t.Fatalf("after the fault cleared: offline %v, log end %d, want online with 3", r.offline.Load(), r.log.LogEndOffset())
	}
	ps.closeAll()
}

func TestBadTopicConfigTakesOnlyItsReplicasOffline(t *testing.T) {
	dir := t.TempDir()
	bad := testAssignment("bad", 0, "bb")
	bad.cfgErr = os.ErrInvalid
	ps := newPartitions(dir)
	if err := ps.reconcile([]assignment{bad, testAssignment("good", 0, "cc")}, keepAll, &testHost{}); err == nil {
		t.Fatal("want an error for the bad topic")
	}
	defer ps.closeAll()
	if r, _ := ps.get("bad", 0); r == nil || r.offline.Load() == nil {
		t.Fatal("bad topic's replica is not offline")
	}
	good, _ := ps.get("good", 0)
	if good == nil || good.offline.Load() != nil {
		t.Fatal("good topic's replica is not online")
	}
	if _, err := good.log.Append(batch(t, "x"), 0); err != nil {
		t.Fatalf("good topic not writable: %v", err)
	}
}

func TestOnlyMetadataDeletesReplicaDirectories(t *testing.T) {
	dir := t.TempDir()
	withData(t, dir, "aa", 1)
	ps := newPartitions(dir)
	// Not assigned, but metadata still wants it (e.g. a partial view): kept.
	if err := ps.reconcile(nil, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	if len(segmentFiles(t, dir)) == 0 {
		t.Fatal("a directory metadata still wants was deleted")
	}
	var asked string
	if err := ps.reconcile(nil, func(topic string, p int32, id string) bool { asked = id; return false }, &testHost{}); err != nil {
		t.Fatal(err)
	}
	if asked != "aa" {
		t.Fatalf("keeper asked about topic id %q, want aa", asked)
	}
	if _, err := os.Stat(filepath.Join(dir, "t-0")); !os.IsNotExist(err) {
		t.Fatalf("directory metadata does not want survived: %v", err)
	}
}

func TestFailedLogTakesReplicaOfflineOnce(t *testing.T) {
	host := &testHost{}
	ps := newPartitions(t.TempDir())
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, host); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ := ps.get("t", 0)
	storageErr := &recordbatch.Error{Code: recordbatch.CodeKafkaStorageError, Msg: "injected"}
	r.check(storageErr)
	r.check(storageErr)
	r.check(recordbatch.ErrCorrupt) // a bad batch is the producer's fault
	if host.failed.Load() != 1 || r.offline.Load() == nil {
		t.Fatalf("failed %d times, offline %v", host.failed.Load(), r.offline.Load())
	}
	// A replica that failed while open is not reopened by reconcile.
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, host); err != nil {
		t.Fatal(err)
	}
	if again, _ := ps.get("t", 0); again != r {
		t.Fatal("a replica that failed while open was reopened")
	}
}

func TestDiskFullTakesReplicaOfflineAndKeepsEveryAcknowledgedRecord(t *testing.T) {
	dir := t.TempDir()
	ffs := faultfs.New(fsutil.OS)
	host := &testHost{}
	ps := newPartitions(dir)
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, host, log.WithFS(ffs)); err != nil {
		t.Fatal(err)
	}
	r, _ := ps.get("t", 0)
	for i := 0; i < 10; i++ {
		if _, err := r.appendProduced(0, batch(t, "acked")); err != nil {
			t.Fatal(err)
		}
	}
	ffs.Inject(faultfs.Rule{Op: faultfs.Write, Name: "*.log", Err: syscall.ENOSPC})
	_, err := r.appendProduced(0, batch(t, "refused"))
	if recordbatch.CodeOf(err) != recordbatch.CodeKafkaStorageError {
		t.Fatalf("append on a full disk: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if r.offlineErr() == nil {
		t.Fatal("the replica is not offline")
	}
	host.waitTold(t)
	ps.closeAll()
	ffs.Clear()
	// Restarted with space freed: every acknowledged record is there.
	ps = newPartitions(dir)
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, host); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ = ps.get("t", 0)
	if got := r.log.LogEndOffset(); got != 10 {
		t.Fatalf("log end %d after restart, want the 10 acknowledged records", got)
	}
}

// A config change reopens every log; on a full disk the close fails (here
// the final time index entry cannot be backed, as on a full tmpfs). The
// process survives, the replica goes offline once and is not reopened as if
// its data were safe; after a restart every record is there.
func TestConfigChangeOnAFailingDiskKeepsTheReplicaOffline(t *testing.T) {
	dir := t.TempDir()
	host := &testHost{}
	ps := newPartitions(dir)
	if err := ps.reconcile([]assignment{testAssignment("t", 0, "aa")}, keepAll, host); err != nil {
		t.Fatal(err)
	}
	r, _ := ps.get("t", 0)
	for i := 0; i < 5; i++ {
		if _, err := r.appendProduced(0, batch(t, "acked")); err != nil {
			t.Fatal(err)
		}
	}
	before := segmentFiles(t, dir)
	if err := os.Truncate(filepath.Join(dir, "t-0", "00000000000000000000.timeindex"), 0); err != nil {
		t.Fatal(err)
	}
	changed := testAssignment("t", 0, "aa")
	changed.cfgSig = "[retention.ms=3600000]"
	if err := ps.reconcile([]assignment{changed}, keepAll, host); err != nil {
		t.Fatal(err)
	}
	again, _ := ps.get("t", 0)
	if again != r || r.offlineErr() == nil || r.offline.Load().atOpen {
		t.Fatalf("after a failed close: same replica %v, offline %v; want the failed replica kept offline", again == r, r.offline.Load())
	}
	host.waitTold(t)
	// Later reconciles leave it offline until the node restarts.
	if err := ps.reconcile([]assignment{changed}, keepAll, host); err != nil {
		t.Fatal(err)
	}
	if again, _ := ps.get("t", 0); again != r {
		t.Fatal("a replica whose log failed while closing was reopened")
	}
	if host.failed.Load() != 1 {
		t.Fatalf("host told %d times, want 1", host.failed.Load())
	}
	ps.closeAll()
	if after := segmentFiles(t, dir); len(after) != len(before) {
		t.Fatalf("segments before %v, after %v", before, after)
	}
	ps = newPartitions(dir)
	if err := ps.reconcile([]assignment{changed}, keepAll, &testHost{}); err != nil {
		t.Fatal(err)
	}
	defer ps.closeAll()
	r, _ = ps.get("t", 0)
	if r.offlineErr() != nil || r.log.LogEndOffset() != 5 {
		t.Fatalf("after restart: offline %v, log end %d, want online with 5", r.offlineErr(), r.log.LogEndOffset())
	}
}
