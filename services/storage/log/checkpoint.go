package log

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/strata-io/strata/internal/fsutil"
)

const (
	offsetsCheckpointFile = "offsets.checkpoint"
	epochCheckpointFile   = "leader-epoch-checkpoint"
	cleanShutdownFile     = ".clean-shutdown"
)

// offsetsCheckpoint is the per-partition state that is not derivable from
// the segments themselves.
type offsetsCheckpoint struct {
	LogStart      int64
	HighWatermark int64
	RecoveryPoint int64 // everything below was fsynced and need not be re-validated
	CleanerPoint  int64 // compaction has covered everything below
}

func (c offsetsCheckpoint) encode() []byte {
	return fmt.Appendf(nil, "v1\nlog-start %d\nhigh-watermark %d\nrecovery-point %d\ncleaner-point %d\n",
		c.LogStart, c.HighWatermark, c.RecoveryPoint, c.CleanerPoint)
}

// readOffsetsCheckpoint returns ok=false when the file is missing or
// unreadable; the caller then falls back to values derived from segments.
func readOffsetsCheckpoint(fsys fsutil.FS, dir string) (offsetsCheckpoint, bool, error) {
	var c offsetsCheckpoint
	data, err := fsutil.ReadFile(fsys, filepath.Join(dir, offsetsCheckpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read offsets checkpoint: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 5 || lines[0] != "v1" {
		return c, false, nil
	}
	fields := []*int64{&c.LogStart, &c.HighWatermark, &c.RecoveryPoint, &c.CleanerPoint}
	for i, p := range fields {
		kv := strings.Fields(lines[i+1])
		if len(kv) != 2 {
			return c, false, nil
		}
		v, err := strconv.ParseInt(kv[1], 10, 64)
		if err != nil || v < 0 {
			return c, false, nil
		}
		*p = v
	}
	return c, true, nil
}

// epochEntry says leader epoch Epoch started writing at StartOffset.
type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

// encodeEpochs uses Kafka's leader-epoch-checkpoint text format.
func encodeEpochs(es []epochEntry) []byte {
	b := fmt.Appendf(nil, "0\n%d\n", len(es))
	for _, e := range es {
		b = fmt.Appendf(b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b
}

// readEpochs fails with fs.ErrNotExist when there is no checkpoint.
func readEpochs(fsys fsutil.FS, dir string) ([]epochEntry, error) {
	data, err := fsutil.ReadFile(fsys, filepath.Join(dir, epochCheckpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read leader epoch checkpoint: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("leader epoch checkpoint: bad header")
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("leader epoch checkpoint: count %q for %d entries", lines[1], len(lines)-2)
	}
	es := make([]epochEntry, 0, n)
	for _, ln := range lines[2:] {
		var e epochEntry
		if _, err := fmt.Sscanf(ln, "%d %d", &e.Epoch, &e.StartOffset); err != nil {
			return nil, fmt.Errorf("leader epoch checkpoint line %q: %w", ln, err)
		}
		if len(es) > 0 && (e.Epoch <= es[len(es)-1].Epoch || e.StartOffset < es[len(es)-1].StartOffset) {
			return nil, fmt.Errorf("leader epoch checkpoint: entries not increasing")
		}
		es = append(es, e)
	}
	return es, nil
}
