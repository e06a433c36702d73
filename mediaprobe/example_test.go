package mediaprobe_test

import (
	"fmt"

	"github.com/plexbutler/butler/mediaprobe"
)

// Parse reads ffprobe's JSON report; Prober.Probe runs ffprobe and parses
// what it says.
func ExampleParse() {
	report := []byte(`{
		"streams": [
			{"index": 0, "codec_type": "video", "codec_name": "hevc", "width": 3840, "height": 2160,
			 "pix_fmt": "yuv420p10le", "color_transfer": "smpte2084", "avg_frame_rate": "24000/1001"},
			{"index": 1, "codec_type": "audio", "codec_name": "eac3", "channels": 6, "tags": {"language": "eng"}}
		],
		"chapters": [{"start_time": "0.000000", "end_time": "300.000000", "tags": {"title": "Opening"}}],
		"format": {"format_name": "matroska,webm", "duration": "5400.000000", "bit_rate": "20000000"}
	}`)
	a, err := mediaprobe.Parse(report)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Container, a.Duration)
	v, au := a.Streams[0], a.Streams[1]
	fmt.Printf("%s %dx%d %d-bit %.3f fps %s\n", v.Codec, v.Width, v.Height, v.BitDepth, v.FrameRate, v.HDR)
	fmt.Println(au.Codec, au.Channels, au.Language)
	fmt.Println(a.Chapters[0].Title, a.Chapters[0].End)
	// Output:
	// matroska,webm 1h30m0s
	// hevc 3840x2160 10-bit 23.976 fps HDR10
	// eac3 6 eng
	// Opening 5m0s
}
