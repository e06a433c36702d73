package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/plexbutler/butler"
)

// The stored form of a butler.MediaAnalysis: JSON with names of its own,
// so that renaming a field of the domain type does not change what is
// stored. Durations are nanoseconds. A field added later reads as its zero
// value from older rows; a change of meaning is a new analysis version.

type storedAnalysis struct {
	Container string          `json:"container,omitempty"`
	Duration  int64           `json:"duration_ns,omitempty"`
	BitRate   int64           `json:"bit_rate,omitempty"`
	Title     string          `json:"title,omitempty"`
	Streams   []storedStream  `json:"streams,omitempty"`
	Chapters  []storedChapter `json:"chapters,omitempty"`
}

type storedStream struct {
	Index          int     `json:"index"`
	Type           string  `json:"type,omitempty"`
	Codec          string  `json:"codec,omitempty"`
	Profile        string  `json:"profile,omitempty"`
	Language       string  `json:"language,omitempty"`
	Title          string  `json:"title,omitempty"`
	Default        bool    `json:"default,omitempty"`
	Forced         bool    `json:"forced,omitempty"`
	BitRate        int64   `json:"bit_rate,omitempty"`
	Channels       int     `json:"channels,omitempty"`
	ChannelLayout  string  `json:"channel_layout,omitempty"`
	SampleRate     int     `json:"sample_rate,omitempty"`
	Width          int     `json:"width,omitempty"`
	Height         int     `json:"height,omitempty"`
	FrameRate      float64 `json:"frame_rate,omitempty"`
	PixelFormat    string  `json:"pixel_format,omitempty"`
	BitDepth       int     `json:"bit_depth,omitempty"`
	ColorTransfer  string  `json:"color_transfer,omitempty"`
	ColorPrimaries string  `json:"color_primaries,omitempty"`
	ColorSpace     string  `json:"color_space,omitempty"`
	HDR            string  `json:"hdr,omitempty"`
}

type storedChapter struct {
	Start int64  `json:"start_ns"`
	End   int64  `json:"end_ns"`
	Title string `json:"title,omitempty"`
}

func encodeAnalysis(a butler.MediaAnalysis) (string, error) {
	s := storedAnalysis{Container: a.Container, Duration: int64(a.Duration), BitRate: a.BitRate, Title: a.Title}
	for _, st := range a.Streams {
		s.Streams = append(s.Streams, storedStream(st))
	}
	for _, c := range a.Chapters {
		s.Chapters = append(s.Chapters, storedChapter{Start: int64(c.Start), End: int64(c.End), Title: c.Title})
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode media analysis: %w", err)
	}
	return string(b), nil
}

func decodeAnalysis(body string) (butler.MediaAnalysis, error) {
	var s storedAnalysis
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return butler.MediaAnalysis{}, fmt.Errorf("decode stored media analysis: %w", err)
	}
	a := butler.MediaAnalysis{Container: s.Container, Duration: time.Duration(s.Duration), BitRate: s.BitRate, Title: s.Title}
	for _, st := range s.Streams {
		a.Streams = append(a.Streams, butler.MediaStream(st))
	}
	for _, c := range s.Chapters {
		a.Chapters = append(a.Chapters, butler.MediaChapter{Start: time.Duration(c.Start), End: time.Duration(c.End), Title: c.Title})
	}
	return a, nil
}
