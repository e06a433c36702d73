package mediaprobe

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/plexbutler/butler"
)

// report is the part of ffprobe's JSON report (-print_format json
// -show_format -show_streams -show_chapters) that Parse reads. Numbers that
// ffprobe writes as strings are strings here.
type report struct {
	Streams  []reportStream  `json:"streams"`
	Chapters []reportChapter `json:"chapters"`
	Format   *reportFormat   `json:"format"`
}

type reportFormat struct {
	FormatName string            `json:"format_name"`
	Duration   string            `json:"duration"`
	BitRate    string            `json:"bit_rate"`
	Tags       map[string]string `json:"tags"`
}

type reportStream struct {
	Index            int               `json:"index"`
	CodecName        string            `json:"codec_name"`
	CodecType        string            `json:"codec_type"`
	Profile          string            `json:"profile"`
	Width            int               `json:"width"`
	Height           int               `json:"height"`
	PixFmt           string            `json:"pix_fmt"`
	ColorSpace       string            `json:"color_space"`
	ColorTransfer    string            `json:"color_transfer"`
	ColorPrimaries   string            `json:"color_primaries"`
	RFrameRate       string            `json:"r_frame_rate"`
	AvgFrameRate     string            `json:"avg_frame_rate"`
	BitsPerRawSample string            `json:"bits_per_raw_sample"`
	SampleRate       string            `json:"sample_rate"`
	Channels         int               `json:"channels"`
	ChannelLayout    string            `json:"channel_layout"`
	BitRate          string            `json:"bit_rate"`
	Disposition      map[string]int    `json:"disposition"`
	Tags             map[string]string `json:"tags"`
	SideDataList     []map[string]any  `json:"side_data_list"`
}

type reportChapter struct {
	StartTime string            `json:"start_time"`
	EndTime   string            `json:"end_time"`
	Tags      map[string]string `json:"tags"`
}

// Parse reads ffprobe's JSON report into a MediaAnalysis. A report that is
// not JSON, or has no format section, is an error: ffprobe did not read
// the file.
func Parse(data []byte) (butler.MediaAnalysis, error) {
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		return butler.MediaAnalysis{}, fmt.Errorf("read ffprobe's report: %w", err)
	}
	if r.Format == nil {
		return butler.MediaAnalysis{}, errors.New("read ffprobe's report: it has no format section")
	}
	a := butler.MediaAnalysis{
		Container: r.Format.FormatName,
		Duration:  seconds(r.Format.Duration),
		BitRate:   integer(r.Format.BitRate),
		Title:     tag(r.Format.Tags, "title"),
	}
	for _, s := range r.Streams {
		a.Streams = append(a.Streams, stream(s))
	}
	for _, c := range r.Chapters {
		a.Chapters = append(a.Chapters, butler.MediaChapter{Start: seconds(c.StartTime), End: seconds(c.EndTime), Title: tag(c.Tags, "title")})
	}
	return a, nil
}

func stream(s reportStream) butler.MediaStream {
	out := butler.MediaStream{
		Index:          s.Index,
		Type:           s.CodecType,
		Codec:          s.CodecName,
		Profile:        s.Profile,
		Language:       tag(s.Tags, "language"),
		Title:          tag(s.Tags, "title"),
		Default:        s.Disposition["default"] != 0,
		Forced:         s.Disposition["forced"] != 0,
		BitRate:        integer(s.BitRate),
		Channels:       s.Channels,
		ChannelLayout:  s.ChannelLayout,
		SampleRate:     int(integer(s.SampleRate)),
		Width:          s.Width,
		Height:         s.Height,
		PixelFormat:    s.PixFmt,
		BitDepth:       int(integer(s.BitsPerRawSample)),
		ColorTransfer:  s.ColorTransfer,
		ColorPrimaries: s.ColorPrimaries,
		ColorSpace:     s.ColorSpace,
	}
	if out.BitRate == 0 {
		// Matroska keeps a stream's bit rate in its statistics tags.
		out.BitRate = integer(tag(s.Tags, "BPS"))
	}
	if s.CodecType == "video" {
		out.FrameRate = rate(s.AvgFrameRate)
		if out.FrameRate == 0 {
			out.FrameRate = rate(s.RFrameRate)
		}
		if out.BitDepth == 0 {
			out.BitDepth = pixelDepth(s.PixFmt)
		}
		out.HDR = hdr(s)
	}
	return out
}

// hdr names the stream's HDR format: Dolby Vision when its configuration
// record is there, HDR10 for the PQ transfer (SMPTE ST 2084), HLG for
// ARIB STD-B67.
func hdr(s reportStream) string {
	for _, sd := range s.SideDataList {
		if t, _ := sd["side_data_type"].(string); strings.Contains(t, "DOVI") || strings.Contains(t, "Dolby Vision") {
			return butler.HDRDolbyVision
		}
	}
	switch s.ColorTransfer {
	case "smpte2084":
		return butler.HDR10
	case "arib-std-b67":
		return butler.HLG
	}
	return ""
}

// pixelDepth reads the bit depth from a pixel format's name (yuv420p10le:
// 10); 8 for the other known planar and packed formats, 0 when unknown.
func pixelDepth(pixFmt string) int {
	if pixFmt == "" {
		return 0
	}
	for _, d := range []int{16, 14, 12, 10, 9} {
		n := strconv.Itoa(d)
		if strings.HasSuffix(pixFmt, "p"+n+"le") || strings.HasSuffix(pixFmt, "p"+n+"be") || strings.HasSuffix(pixFmt, "p"+n) {
			return d
		}
	}
	return 8
}

func tag(tags map[string]string, key string) string {
	if v, ok := tags[key]; ok {
		return v
	}
	for k, v := range tags {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// seconds reads "2.023000" as a duration; 0 when it is not a number.
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e9 {
		return 0
	}
	return time.Duration(math.Round(f * 1e9))
}

// integer reads a whole number that ffprobe writes as a string; 0 when it
// is not one.
func integer(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// rate reads a frame rate written as a fraction ("24000/1001"); 0 when it
// is not one ("0/0").
func rate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return 0
	}
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || d == 0 || n <= 0 {
		return 0
	}
	return n / d
}
