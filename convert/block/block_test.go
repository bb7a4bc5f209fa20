package block

import "testing"

// TestWindowIsZero checks the zero map against a plain scan for ranges of
// every size a writer asks about, aligned or not, and a short last block.
func TestWindowIsZero(t *testing.T) {
	const size = 1<<20 - 1000 // the last block is short
	data := make([]byte, size)
	data[5*ZeroBlock+100] = 1 // block 5: data in its second 512 bytes only
	data[20*ZeroBlock] = 2    // block 20: data in its first byte
	data[size-1] = 3          // the short last block
	w := &Window{Data: data}
	w.ScanZeros()
	for _, step := range []int{512, 1000, ZeroBlock, 3 * ZeroBlock, 64 << 10, 1 << 20} {
		for start := 0; start < size; start += step {
			end := min(start+step, size)
			if got, want := w.IsZero(start, end), IsZero(data[start:end]); got != want {
				t.Errorf("IsZero(%d, %d) = %v, want %v", start, end, got, want)
			}
		}
	}
	if !(&Window{Data: make([]byte, 100), Empty: true}).IsZero(0, 100) {
		t.Error("an empty window is not zero")
	}
	if (&Window{Data: data}).IsZero(0, size) {
		t.Error("an unscanned window with data is zero")
	}
}
