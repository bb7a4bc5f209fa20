package image

import (
	"context"
	"io"
)

// ctxReader is a Reader that fails with the context's error once it is
// done, checked before every read, so a long copy stops within a chunk.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
