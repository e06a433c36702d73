package mediaframes

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/internal/mediatool"
)

// ChapterOffset is how far into a chapter its picture is taken, at most:
// chapters often open on black or a fade, so the picture is taken at
// start + min(ChapterOffset, half the chapter's length).
const ChapterOffset = 5 * time.Second

// ChapterTime returns the time at which the picture of chapters[i] is
// taken, in a video of duration d: ChapterOffset into the chapter, or
// half-way through it when it is shorter than twice that. A chapter
// without an end (End not after Start) ends where the next one starts,
// or at d; a time past d (a chapter list longer than the video) is the
// chapter's start, or 0.
func ChapterTime(chapters []butler.MediaChapter, i int, d time.Duration) time.Duration {
	c := chapters[i]
	end := c.End
	if end <= c.Start {
		end = d
		if i+1 < len(chapters) && chapters[i+1].Start > c.Start {
			end = chapters[i+1].Start
		}
	}
	if d > 0 && end > d {
		end = d
	}
	t := c.Start + min(ChapterOffset, max(end-c.Start, 0)/2)
	if d > 0 && t >= d {
		t = max(min(c.Start, d-time.Millisecond), 0)
	}
	return max(t, 0)
}

// ChapterThumbs makes one picture per chapter of the video at path, in
// order, width pixels wide (0 means the Extractor's Width), tone-mapped
// when the video is HDR: each taken at ChapterTime, every frame decoded
// from the keyframe before it, by one ffmpeg each (a seek and one
// picture), within the Extractor's Timeout each. chapters nil means
// a.Chapters; no chapters, no pictures (and no error). Errors are Previews'; a chapter of which ffmpeg makes no
// picture is a *FileError that names it.
func (e *Extractor) ChapterThumbs(ctx context.Context, path string, a butler.MediaAnalysis, chapters []butler.MediaChapter, width int) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if width < 0 || width == 1 || width > 8192 {
		return nil, fmt.Errorf("chapter picture width %d: give 2 to 8192 pixels, or 0 for the extractor's", width)
	}
	if width == 0 {
		width = e.width()
	}
	width = 2 * (width / 2)
	if _, err := e.ffmpeg().Command(); err != nil {
		return nil, err
	}
	if chapters == nil {
		chapters = a.Chapters
	}
	s, err := video(path, a)
	if err != nil {
		return nil, err
	}
	if err := stat(path); err != nil {
		return nil, err
	}
	filter := Filter(s, width)
	limit := cmpOr(e.Timeout, DefaultTimeout)
	out := make([][]byte, 0, len(chapters))
	for i := range chapters {
		t := ChapterTime(chapters, i, a.Duration)
		args := append(e.inputArgs(path, "-ss", seconds(t)),
			"-map", "0:"+strconv.Itoa(s.Index), "-an", "-sn", "-dn",
			"-vf", filter, "-frames:v", "1", "-q:v", strconv.Itoa(e.quality()),
			"-f", "image2pipe", "-c:v", "mjpeg", "pipe:1")
		stdout := &mediatool.LimitedBuffer{Max: MaxPictureBytes}
		if _, err := e.run(ctx, path, limit, stdout, args); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("chapter %d (%q, at %v)", i+1, chapters[i].Title, t)
		if stdout.Len() == 0 {
			return nil, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg made no picture of %s: the video has no frame there?", name)}
		}
		if _, _, err := decode(stdout.Bytes()); err != nil {
			return nil, &FileError{Op: fileOp, Path: path, Reason: fmt.Sprintf("ffmpeg's picture of %s: %v", name, err)}
		}
		out = append(out, stdout.Bytes())
	}
	return out, nil
}
