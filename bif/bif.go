// Package bif reads and writes BIF files ("Base Index Frames"), the index
// files of preview images that Roku players, Plex and Emby show while a
// viewer seeks through a video ("trick mode"). The format is Roku's:
// https://developer.roku.com/docs/developer-program/media-playback/trick-mode/bif-file-creation.md
//
// A BIF file is, all integers unsigned 32-bit little-endian:
//
//	offset  size  what
//	0       8     magic: 89 42 49 46 0d 0a 1a 0a
//	8       4     version: 0
//	12      4     the number of images, N
//	16      4     the timestamp multiplier in milliseconds (0 means 1000):
//	              the interval between images; timestamps are in its units
//	20      44    reserved, zero
//	64      8*(N+1) the index: N entries of (timestamp, absolute offset of
//	              the image), then (0xffffffff, offset of the end of the
//	              last image)
//	...           the JPEG images, back to back, in the index's order
//
// Write writes image i at timestamp i: one image every interval from the
// start of the video, as Plex writes them. It takes the images in memory:
// a two-hour film at one image every 10 s is 720 JPEGs of about 10 KB at
// 320 pixels wide, 7 MB. Parse and Read check the structure; Verify also
// checks that every image is a JPEG that image/jpeg can read.
package bif

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"time"
)

// Magic is the first 8 bytes of every BIF file.
const Magic = "\x89BIF\r\n\x1a\n"

// Version is the only version of the format there is, the one Write
// writes and Parse reads.
const Version = 0

// HeaderSize is the size of the header, before the index.
const HeaderSize = 64

// EntrySize is the size of one entry of the index.
const EntrySize = 8

// endTimestamp is the timestamp of the index's last entry.
const endTimestamp = math.MaxUint32

// DefaultInterval is the interval a timestamp multiplier of 0 means.
const DefaultInterval = time.Second

// File is what the header and index of a BIF file say.
type File struct {
	// Version is the format's version (Version).
	Version uint32
	// Interval is the timestamp multiplier: the unit of the timestamps,
	// the interval between images as Write writes them.
	Interval time.Duration
	// Frames are the images, in the index's order.
	Frames []Frame
	// Size is the size of the file: the end of the last image.
	Size int64
}

// Frame is one image of a BIF file.
type Frame struct {
	// Index is the raw timestamp, in units of the file's Interval.
	Index uint32
	// Timestamp is the position in the video the image shows
	// (Index × Interval).
	Timestamp time.Duration
	// Offset is where the image starts in the file; Size its length in
	// bytes.
	Offset int64
	Size   int64
}

// Bytes returns frame f's image out of data, the whole file that f was
// parsed from.
func (f Frame) Bytes(data []byte) []byte { return data[f.Offset : f.Offset+f.Size] }

// Write writes a BIF file to w: frames[i] is the JPEG image at
// i × interval. The interval must be a whole number of milliseconds,
// from 1 ms to 2^32-1 ms; there must be at least one frame, each a
// JPEG image (it starts with the JPEG start-of-image marker: only that is
// checked), and the file must stay under 4 GiB, which the 32-bit offsets
// allow.
func Write(w io.Writer, interval time.Duration, frames [][]byte) error {
	if interval <= 0 || interval%time.Millisecond != 0 || interval/time.Millisecond > math.MaxUint32 {
		return fmt.Errorf("bif: interval %v: give a whole number of milliseconds, from 1ms to %dms", interval, uint32(math.MaxUint32))
	}
	if len(frames) == 0 {
		return errors.New("bif: no frames to write: a BIF file needs at least one image")
	}
	if len(frames) >= endTimestamp {
		return fmt.Errorf("bif: %d frames is more than the format's timestamps can number", len(frames))
	}
	end := int64(HeaderSize) + int64(len(frames)+1)*EntrySize
	for i, f := range frames {
		if !isJPEG(f) {
			return fmt.Errorf("bif: frame %d (%d bytes) is not a JPEG image: it does not start with the JPEG marker FF D8", i, len(f))
		}
		end += int64(len(f))
	}
	if end > math.MaxUint32 {
		return fmt.Errorf("bif: %d frames make %d bytes, more than the 4 GiB a BIF file's offsets can address: use a longer interval or smaller images", len(frames), end)
	}

	head := make([]byte, HeaderSize, HeaderSize+(len(frames)+1)*EntrySize)
	copy(head, Magic)
	binary.LittleEndian.PutUint32(head[8:], Version)
	binary.LittleEndian.PutUint32(head[12:], uint32(len(frames)))
	binary.LittleEndian.PutUint32(head[16:], uint32(interval/time.Millisecond))
	offset := uint32(HeaderSize + (len(frames)+1)*EntrySize)
	for i, f := range frames {
		head = binary.LittleEndian.AppendUint32(head, uint32(i))
		head = binary.LittleEndian.AppendUint32(head, offset)
		offset += uint32(len(f))
	}
	head = binary.LittleEndian.AppendUint32(head, endTimestamp)
	head = binary.LittleEndian.AppendUint32(head, offset)
	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("bif: write the header: %w", err)
	}
	for i, f := range frames {
		if _, err := w.Write(f); err != nil {
			return fmt.Errorf("bif: write frame %d: %w", i, err)
		}
	}
	return nil
}

// Encode returns the BIF file Write writes.
func Encode(interval time.Duration, frames [][]byte) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, interval, frames); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// isJPEG reports whether b starts with the JPEG start-of-image marker.
func isJPEG(b []byte) bool { return len(b) >= 2 && b[0] == 0xff && b[1] == 0xd8 }

// Parse reads the header and index of the BIF file data (Read).
func Parse(data []byte) (*File, error) { return Read(bytes.NewReader(data), int64(len(data))) }

// Read reads the header and index of a BIF file of size bytes from r and
// checks them: the magic, the version (0), an index that fits in the file,
// timestamps that rise from one entry to the next with the end marker
// (0xffffffff) last, and images that follow the index, back to back in
// its order, the last one ending at the end of the file. It does not read
// the images (Verify does). Its errors say what is wrong and where.
func Read(r io.ReaderAt, size int64) (*File, error) {
	if size < HeaderSize {
		return nil, fmt.Errorf("bif: the file is %d bytes, shorter than the %d-byte header", size, HeaderSize)
	}
	head := make([]byte, HeaderSize)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("bif: read the header: %w", err)
	}
	if string(head[:8]) != Magic {
		return nil, fmt.Errorf("bif: not a BIF file: it starts with % x, not the magic % x", head[:8], Magic)
	}
	f := &File{Version: binary.LittleEndian.Uint32(head[8:]), Size: size}
	if f.Version != Version {
		return nil, fmt.Errorf("bif: version %d: only version %d is known", f.Version, Version)
	}
	count := int64(binary.LittleEndian.Uint32(head[12:]))
	ms := binary.LittleEndian.Uint32(head[16:])
	f.Interval = time.Duration(ms) * time.Millisecond
	if ms == 0 {
		f.Interval = DefaultInterval
	}
	dataStart := HeaderSize + (count+1)*EntrySize
	if dataStart > size {
		return nil, fmt.Errorf("bif: the header says %d images, whose index (%d bytes) does not fit in the %d-byte file", count, (count+1)*EntrySize, size)
	}
	index := make([]byte, (count+1)*EntrySize)
	if _, err := r.ReadAt(index, HeaderSize); err != nil {
		return nil, fmt.Errorf("bif: read the index: %w", err)
	}
	f.Frames = make([]Frame, count)
	// The timestamps first: a wrong count shows as a misplaced end marker.
	for i := int64(0); i <= count; i++ {
		ts := binary.LittleEndian.Uint32(index[i*EntrySize:])
		switch {
		case i == count && ts != endTimestamp:
			return nil, fmt.Errorf("bif: the index's last entry (%d) has timestamp %d, not the end marker 0xffffffff: the header's count (%d) may be wrong", i, ts, count)
		case i < count && ts == endTimestamp:
			return nil, fmt.Errorf("bif: index entry %d of %d has the end marker 0xffffffff as its timestamp: the header's count may be wrong", i, count)
		case i < count && i > 0 && ts <= f.Frames[i-1].Index:
			return nil, fmt.Errorf("bif: index entry %d: timestamp %d does not follow entry %d's %d (they must rise)", i, ts, i-1, f.Frames[i-1].Index)
		case i < count:
			f.Frames[i] = Frame{Index: ts, Timestamp: time.Duration(ts) * f.Interval}
		}
	}
	prevOffset := dataStart
	for i := int64(0); i <= count; i++ {
		off := int64(binary.LittleEndian.Uint32(index[i*EntrySize+4:]))
		switch {
		case i == 0 && off != dataStart:
			return nil, fmt.Errorf("bif: the first image's offset %d is not the end of the index (%d)", off, dataStart)
		case off < prevOffset:
			return nil, fmt.Errorf("bif: index entry %d: offset %d is before the previous one, %d", i, off, prevOffset)
		case off > size:
			return nil, fmt.Errorf("bif: index entry %d: offset %d is past the end of the %d-byte file (cut short?)", i, off, size)
		case i == count && off != size:
			return nil, fmt.Errorf("bif: the images end at %d but the file has %d bytes", off, size)
		}
		if i > 0 {
			f.Frames[i-1].Size = off - prevOffset
		}
		if i < count {
			f.Frames[i].Offset = off
		}
		prevOffset = off
	}
	return f, nil
}

// Verify parses data (Parse) and checks that it holds wantCount images
// (a negative wantCount takes any number), at least one, each a JPEG image
// whose header image/jpeg reads and that ends with the JPEG end marker,
// all of one size. It returns the parsed
// file.
func Verify(data []byte, wantCount int) (*File, error) {
	f, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if wantCount >= 0 && len(f.Frames) != wantCount {
		return f, fmt.Errorf("bif: %d images, want %d", len(f.Frames), wantCount)
	}
	if len(f.Frames) == 0 {
		return f, errors.New("bif: the file holds no images")
	}
	var w, h int
	for i, fr := range f.Frames {
		img := fr.Bytes(data)
		if fr.Size == 0 {
			return f, fmt.Errorf("bif: image %d (at %v) is empty", i, fr.Timestamp)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(img))
		if err != nil {
			return f, fmt.Errorf("bif: image %d (at %v, %d bytes at offset %d) is not a readable JPEG: %v", i, fr.Timestamp, fr.Size, fr.Offset, err)
		}
		if img[len(img)-2] != 0xff || img[len(img)-1] != 0xd9 {
			return f, fmt.Errorf("bif: image %d (at %v, %d bytes at offset %d) does not end with the JPEG end marker FF D9: cut short?", i, fr.Timestamp, fr.Size, fr.Offset)
		}
		if i == 0 {
			w, h = cfg.Width, cfg.Height
		} else if cfg.Width != w || cfg.Height != h {
			return f, fmt.Errorf("bif: image %d (at %v) is %dx%d, image 0 is %dx%d", i, fr.Timestamp, cfg.Width, cfg.Height, w, h)
		}
	}
	return f, nil
}
