package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// mediaKind is one kind of generated media file.
type mediaKind struct {
	name     string // what the report calls it
	ext      string
	args     []string // ffmpeg's encoding arguments
	chapters bool
	path     string // the file made
	size     int64
}

// chaptersMeta is an ffmetadata file of three chapters.
const chaptersMeta = `;FFMETADATA1
[CHAPTER]
TIMEBASE=1/1000
START=0
END=700
title=Opening
[CHAPTER]
TIMEBASE=1/1000
START=700
END=1400
title=Middle
[CHAPTER]
TIMEBASE=1/1000
START=1400
END=2000
title=End
`

// makeMedia makes one file of each kind with ffmpeg, in b.tmp/kinds.
func (b *bench) makeMedia() error {
	dir := filepath.Join(b.tmp, "kinds")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	meta := filepath.Join(dir, "chapters.txt")
	if err := os.WriteFile(meta, []byte(chaptersMeta), 0o644); err != nil {
		return err
	}
	h264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"}
	b.mediaKinds = []mediaKind{
		{name: "Matroska, H.264 + AAC, 3 chapters", ext: "mkv", args: h264, chapters: true},
		{name: "MP4, H.264 + AAC", ext: "mp4", args: h264},
		{name: "MP4, H.264 + AAC, 3 chapters", ext: "mp4", args: h264, chapters: true},
		{name: "Matroska, MPEG-4 part 2 + MP3", ext: "mkv", args: []string{"-c:v", "mpeg4", "-c:a", "libmp3lame"}},
	}
	for i := range b.mediaKinds {
		k := &b.mediaKinds[i]
		k.path = filepath.Join(dir, fmt.Sprintf("kind%d.%s", i, k.ext))
		args := []string{"-v", "error", "-y",
			"-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=duration=2"}
		if k.chapters {
			args = append(args, "-i", meta, "-map", "0:v", "-map", "1:a", "-map_chapters", "2")
		} else {
			args = append(args, "-map", "0:v", "-map", "1:a")
		}
		args = append(append(args, k.args...), "-shortest", k.path)
		if out, err := exec.CommandContext(b.ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ffmpeg %v: %v: %s", args, err, out)
		}
		fi, err := os.Stat(k.path)
		if err != nil {
			return err
		}
		k.size = fi.Size()
	}
	b.logf("made %d kinds of media file with ffmpeg", len(b.mediaKinds))
	return nil
}

// copyMedia copies the kinds into dir, n files in all, the kinds in turn
// ("Film 0000.mkv"...), and returns their paths.
func (b *bench) copyMedia(dir string, n int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for i := range n {
		k := b.mediaKinds[i%len(b.mediaKinds)]
		p := filepath.Join(dir, fmt.Sprintf("Film %04d.%s", i, k.ext))
		if err := copyFile(k.path, p); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
