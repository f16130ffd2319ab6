package scale

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// DiskSpeed is the raw sequential speed of a directory's disk, the yardstick
// for the Arrow writer and reader.
type DiskSpeed struct {
	Bytes int64 `json:"bytes"`
	// GoWriteMBps: one os.File.Write of the bytes, then fsync; GoReadMBps:
	// one ReadAt of the file just written (from the page cache, as the
	// ensemble reader reads a file written the cycle before).
	GoWriteMBps float64 `json:"go_write_mb_s"`
	GoReadMBps  float64 `json:"go_read_mb_s"`
	// DDWriteMBps: dd if=/dev/zero bs=1M conv=fsync; DDReadMBps: dd of the
	// file to /dev/null with bs=1M. 0 when dd is not installed.
	DDWriteMBps float64 `json:"dd_write_mb_s,omitempty"`
	DDReadMBps  float64 `json:"dd_read_mb_s,omitempty"`
}

// MeasureDisk writes and reads size bytes (rounded up to MiB) in dir with
// plain Go file calls and with dd, and removes its files.
func MeasureDisk(dir string, size int64) (DiskSpeed, error) {
	mib := (size + 1<<20 - 1) >> 20
	size = mib << 20
	d := DiskSpeed{Bytes: size}
	path := filepath.Join(dir, "disk-speed.bin")
	defer os.Remove(path)
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	t0 := time.Now()
	if err := writeSync(path, buf); err != nil {
		return d, fmt.Errorf("scale: disk speed: %w", err)
	}
	d.GoWriteMBps = float64(size) / 1e6 / time.Since(t0).Seconds()
	f, err := os.Open(path)
	if err != nil {
		return d, fmt.Errorf("scale: disk speed: %w", err)
	}
	t0 = time.Now()
	_, err = f.ReadAt(buf, 0)
	d.GoReadMBps = float64(size) / 1e6 / time.Since(t0).Seconds()
	f.Close()
	if err != nil {
		return d, fmt.Errorf("scale: disk speed: read %s: %w", path, err)
	}
	buf = nil
	if _, err := exec.LookPath("dd"); err != nil {
		return d, nil
	}
	ddPath := filepath.Join(dir, "disk-speed-dd.bin")
	defer os.Remove(ddPath)
	count := "count=" + strconv.FormatInt(mib, 10)
	for _, run := range []struct {
		mbps *float64
		args []string
	}{
		{&d.DDWriteMBps, []string{"if=/dev/zero", "of=" + ddPath, "bs=1M", count, "conv=fsync"}},
		{&d.DDReadMBps, []string{"if=" + ddPath, "of=/dev/null", "bs=1M"}},
	} {
		t0 := time.Now()
		if out, err := exec.Command("dd", run.args...).CombinedOutput(); err != nil {
			return d, fmt.Errorf("scale: disk speed: dd %v: %w: %s", run.args, err, out)
		}
		*run.mbps = float64(size) / 1e6 / time.Since(t0).Seconds()
	}
	return d, nil
}

// writeSync writes data to a new file at path and fsyncs it.
func writeSync(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
