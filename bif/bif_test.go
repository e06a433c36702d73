package bif_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"strings"
	"testing"
	"time"

	"github.com/plexbutler/butler/bif"
)

// frames returns n small JPEG images of w×h pixels, each a different grey.
func frames(t testing.TB, n, w, h int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for p := range img.Pix {
			img.Pix[p] = uint8(i * 40)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, nil); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

func TestWriteParse_RoundTrip(t *testing.T) {
	in := frames(t, 5, 32, 18)
	data, err := bif.Encode(10*time.Second, in)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:8]) != "\x89BIF\r\n\x1a\n" {
		t.Errorf("magic = % x", data[:8])
	}
	if v, n, ms := binary.LittleEndian.Uint32(data[8:]), binary.LittleEndian.Uint32(data[12:]), binary.LittleEndian.Uint32(data[16:]); v != 0 || n != 5 || ms != 10000 {
		t.Errorf("header: version %d, count %d, multiplier %d; want 0, 5, 10000", v, n, ms)
	}
	if !bytes.Equal(data[20:64], make([]byte, 44)) {
		t.Errorf("reserved bytes not zero: % x", data[20:64])
	}
	f, err := bif.Verify(data, 5)
	if err != nil {
		t.Fatal(err)
	}
	if f.Interval != 10*time.Second || len(f.Frames) != 5 || f.Size != int64(len(data)) {
		t.Fatalf("parsed %+v", f)
	}
	for i, fr := range f.Frames {
		if fr.Index != uint32(i) || fr.Timestamp != time.Duration(i)*10*time.Second {
			t.Errorf("frame %d: index %d, timestamp %v", i, fr.Index, fr.Timestamp)
		}
		if !bytes.Equal(fr.Bytes(data), in[i]) {
			t.Errorf("frame %d: the bytes differ from the written image", i)
		}
	}
	// The index's end entry.
	end := data[64+5*8:]
	if ts, off := binary.LittleEndian.Uint32(end), binary.LittleEndian.Uint32(end[4:]); ts != 0xffffffff || int(off) != len(data) {
		t.Errorf("end entry (%#x, %d); want (0xffffffff, %d)", ts, off, len(data))
	}
	// Read from a ReaderAt gives the same.
	g, err := bif.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(g.Frames) != 5 || g.Frames[4] != f.Frames[4] {
		t.Errorf("Read = %+v, %v", g, err)
	}
}

func TestParse_ZeroMultiplierMeansSecond(t *testing.T) {
	data, err := bif.Encode(time.Second, frames(t, 2, 8, 8))
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(data[16:], 0)
	f, err := bif.Parse(data)
	if err != nil || f.Interval != time.Second || f.Frames[1].Timestamp != time.Second {
		t.Errorf("Parse = %+v, %v; want an interval of 1s", f, err)
	}
}

func TestWrite_Refuses(t *testing.T) {
	good := frames(t, 1, 8, 8)
	for _, tc := range []struct {
		name     string
		interval time.Duration
		frames   [][]byte
		want     string
	}{
		{"no frames", time.Second, nil, "no frames"},
		{"zero interval", 0, good, "interval"},
		{"sub-millisecond interval", 1500 * time.Microsecond, good, "whole number of milliseconds"},
		{"interval too long", 5000 * time.Hour, good, "interval"},
		{"not a JPEG", time.Second, [][]byte{good[0], []byte("PNG...")}, "frame 1"},
		{"empty frame", time.Second, [][]byte{{}}, "frame 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := bif.Write(&b, tc.interval, tc.frames)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write = %v; want an error with %q", err, tc.want)
			}
		})
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestWrite_WriterError(t *testing.T) {
	err := bif.Write(&failWriter{after: 2}, time.Second, frames(t, 3, 8, 8))
	if err == nil || !strings.Contains(err.Error(), "frame 1") || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Write = %v; want the writer's error at frame 1", err)
	}
}

// TestVerify_Corruption: every kind of damage is caught, and the error
// says which.
func TestVerify_Corruption(t *testing.T) {
	good, err := bif.Encode(10*time.Second, frames(t, 3, 16, 16))
	if err != nil {
		t.Fatal(err)
	}
	odd := frames(t, 1, 24, 16)[0]
	const idx = bif.HeaderSize // the index's first entry
	put := func(b []byte, at int, v uint32) { binary.LittleEndian.PutUint32(b[at:], v) }
	off := func(b []byte, entry int) uint32 { return binary.LittleEndian.Uint32(b[idx+entry*8+4:]) }
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		count  int
		want   string
	}{
		{"empty", func(b []byte) []byte { return nil }, 3, "shorter than the 64-byte header"},
		{"header cut", func(b []byte) []byte { return b[:40] }, 3, "shorter than the 64-byte header"},
		{"magic", func(b []byte) []byte { b[1] = 'X'; return b }, 3, "not a BIF file"},
		{"version", func(b []byte) []byte { put(b, 8, 1); return b }, 3, "version 1"},
		{"count too large for the file", func(b []byte) []byte { put(b, 12, 1<<30); return b }, 3, "does not fit"},
		{"count says fewer", func(b []byte) []byte { put(b, 12, 2); return b }, 3, "not the end marker"},
		{"count says more", func(b []byte) []byte { put(b, 12, 4); return b }, 3, "end marker 0xffffffff as its timestamp"},
		{"timestamps not rising", func(b []byte) []byte { put(b, idx+2*8, 0); return b }, 3, "must rise"},
		{"end marker lost", func(b []byte) []byte { put(b, idx+3*8, 3); return b }, 3, "not the end marker"},
		{"first offset inside the index", func(b []byte) []byte { put(b, idx+4, 60); return b }, 3, "not the end of the index"},
		{"offsets not rising", func(b []byte) []byte { put(b, idx+2*8+4, off(b, 1)-1); return b }, 3, "before the previous"},
		{"offset past the end", func(b []byte) []byte { put(b, idx+2*8+4, uint32(len(b)+10)); return b }, 3, "past the end"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-100] }, 3, "past the end"},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0, 0, 0) }, 3, "the images end at"},
		{"image not a JPEG", func(b []byte) []byte { b[off(b, 1)] = 0; return b }, 3, "image 1"},
		{"image cut short", func(b []byte) []byte {
			// Image 1 loses its end marker: the index says it ends 2 bytes
			// earlier and image 2 starts there.
			e := off(b, 2)
			copy(b[e-2:], b[e:])
			b = b[:len(b)-2]
			put(b, idx+2*8+4, e-2)
			put(b, idx+3*8+4, uint32(len(b)))
			return b
		}, 3, "end marker FF D9"},
		{"images of different sizes", func(b []byte) []byte {
			// Image 2 replaced by a 24×16 one.
			b = append(b[:off(b, 2)], odd...)
			put(b, idx+3*8+4, uint32(len(b)))
			return b
		}, 3, "is 24x16, image 0 is 16x16"},
		{"wrong count", func(b []byte) []byte { return b }, 4, "3 images, want 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.damage(bytes.Clone(good))
			_, err := bif.Verify(b, tc.count)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify = %v; want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := bif.Verify(good, -1); err != nil {
		t.Errorf("Verify(good, any) = %v", err)
	}
}

func TestVerify_NoImages(t *testing.T) {
	// A well-formed file of zero images parses but does not verify.
	b := make([]byte, bif.HeaderSize+8)
	copy(b, bif.Magic)
	binary.LittleEndian.PutUint32(b[bif.HeaderSize:], 0xffffffff)
	binary.LittleEndian.PutUint32(b[bif.HeaderSize+4:], uint32(len(b)))
	if f, err := bif.Parse(b); err != nil || len(f.Frames) != 0 {
		t.Fatalf("Parse = %+v, %v", f, err)
	}
	if _, err := bif.Verify(b, -1); err == nil || !strings.Contains(err.Error(), "no images") {
		t.Errorf("Verify = %v; want no images", err)
	}
}

// FuzzParse: Parse never panics, and what it accepts is consistent: the
// frames lie inside the file, back to back, in rising timestamp order.
func FuzzParse(f *testing.F) {
	good, err := bif.Encode(2*time.Second, frames(f, 3, 8, 8))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:70])
	f.Add([]byte(bif.Magic))
	f.Add(make([]byte, 72))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := bif.Parse(data)
		if err != nil {
			return
		}
		end := int64(bif.HeaderSize + (len(file.Frames)+1)*bif.EntrySize)
		for i, fr := range file.Frames {
			if fr.Offset != end || fr.Size < 0 || fr.Offset+fr.Size > int64(len(data)) {
				t.Fatalf("frame %d: offset %d size %d in a %d-byte file (expected start %d)", i, fr.Offset, fr.Size, len(data), end)
			}
			if i > 0 && fr.Index <= file.Frames[i-1].Index {
				t.Fatalf("frame %d: timestamps not rising", i)
			}
			_ = fr.Bytes(data)
			end += fr.Size
		}
		if end != int64(len(data)) {
			t.Fatalf("frames end at %d in a %d-byte file", end, len(data))
		}
		_, _ = bif.Verify(data, -1)
	})
}
