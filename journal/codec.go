package journal

import (
	"fmt"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// compressor compresses block bodies for one goroutine (the flusher).
type compressor struct {
	id   byte
	zenc *zstd.Encoder
}

func newCompressor(id byte) (*compressor, error) {
	c := &compressor{id: id}
	if id == codecZstd {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
		c.zenc = e
	}
	return c, nil
}

// compress appends the compressed form of src to dst.
func (c *compressor) compress(dst, src []byte) []byte {
	switch c.id {
	case codecS2:
		n := s2.MaxEncodedLen(len(src))
		dst = growTo(dst, len(dst)+n)
		out := s2.Encode(dst[len(dst):len(dst)+n], src)
		return dst[:len(dst)+len(out)]
	case codecZstd:
		return c.zenc.EncodeAll(src, dst)
	}
	return append(dst, src...)
}

func (c *compressor) close() {
	if c.zenc != nil {
		c.zenc.Close()
	}
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// decompressor decodes block bodies for one goroutine. The output
// allocation is bounded by the header's raw length, which decodeBlockHeader
// has bounded by maxBlockBody.
type decompressor struct {
	zdec *zstd.Decoder
	buf  []byte
}

func (d *decompressor) close() {
	if d.zdec != nil {
		d.zdec.Close()
	}
}

// decode returns the raw body of a block; the result aliases d's buffer
// (or body itself for codecNone) and is valid until the next call.
func (d *decompressor) decode(h *blockHeader, body []byte) ([]byte, error) {
	switch h.Codec {
	case codecNone:
		return body, nil
	case codecS2:
		n, err := s2.DecodedLen(body)
		if err != nil {
			return nil, err
		}
		if n != int(h.RawLen) {
			return nil, fmt.Errorf("s2 decoded length %d, header says %d", n, h.RawLen)
		}
		d.buf = growTo(d.buf[:0], n)
		out, err := s2.Decode(d.buf[:n], body)
		if err != nil {
			return nil, err
		}
		return out, nil
	case codecZstd:
		if d.zdec == nil {
			z, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxMemory(maxBlockBody), zstd.WithDecoderMaxWindow(maxBlockBody))
			if err != nil {
				return nil, err
			}
			d.zdec = z
		}
		d.buf = growTo(d.buf[:0], int(h.RawLen))
		out, err := d.zdec.DecodeAll(body, d.buf[:0])
		if err != nil {
			return nil, err
		}
		if len(out) != int(h.RawLen) {
			return nil, fmt.Errorf("zstd decoded %d bytes, header says %d", len(out), h.RawLen)
		}
		d.buf = out
		return out, nil
	}
	return nil, fmt.Errorf("unknown codec %d", h.Codec)
}
