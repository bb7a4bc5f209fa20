package main

import (
	"bytes"
	"testing"
	"time"
)

func TestDiskProgressLine(t *testing.T) {
	p := newDiskProgress(&bytes.Buffer{}, "disk0", false)
	for _, tc := range []struct {
		done, total int64
		after       time.Duration
		want        string
	}{
		// 5 MiB in 8 s of 128 MiB: 123 MiB to go at 0.66 MB/s.
		{5 << 20, 128 << 20, 8 * time.Second, "disk0: 5.0 MiB / 128.0 MiB (4%), 0.7 MB/s, ETA 3m17s"},
		{64 << 20, 128 << 20, 2 * time.Second, "disk0: 64.0 MiB / 128.0 MiB (50%), 33.6 MB/s, ETA 2s"},
		{128 << 20, 128 << 20, 4 * time.Second, "disk0: 128.0 MiB / 128.0 MiB (100%), 33.6 MB/s, ETA -"},
		{0, 128 << 20, time.Second, "disk0: 0.0 MiB / 128.0 MiB (0%), 0.0 MB/s, ETA -"},
	} {
		if got := p.line(tc.done, tc.total, p.start.Add(tc.after)); got != tc.want {
			t.Errorf("after %s: %q, want %q", tc.after, got, tc.want)
		}
	}
}
