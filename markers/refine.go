package markers

import (
	"context"
	"encoding/binary"
	"math"
	"strconv"
	"time"
)

// A fingerprint item describes about 2.7 s of audio, so that the items
// at the edge of a shared segment, which describe some shared and some
// other audio, can match or not depending on that other audio (silence,
// a steady tone or noise on both sides match more): a segment's edges as
// the items give them are off by up to their span. The edges are made
// exact with the audio itself: the two episodes' waveforms, aligned to
// the sample, are the same within the shared segment (the same
// recording) and unrelated outside it.
const (
	// pcmRate is the sample rate the waveforms are compared at.
	pcmRate = 8000
	// blockLength is the resolution of the edges found.
	blockLength = 50 * time.Millisecond
	// alignLength is the stretch of audio inside the segment that aligns
	// the two waveforms, alignSearch how far either way the alignment
	// is searched (more than an item's step, the fingerprint's
	// resolution).
	alignLength = 500 * time.Millisecond
	alignSearch = 200 * time.Millisecond
	// alignDepths are how far inside the segment, from its edge as the
	// items give it, the alignment is tried, in turn: past an item's
	// span, and past some silence that both episodes share at the edge
	// (which the items match, and the waveforms do not count).
	alignDepth = 5 * time.Second
	// edgeReach is how far beyond the edges the waveforms are read.
	edgeReach = 4 * time.Second
	// minAligned is the correlation of the aligned waveforms below which
	// the segment is not the same recording in both (the edges are then
	// left as the items give them); minSame the correlation of a block
	// below which it is not the same audio.
	minAligned = 0.8
	minSame    = 0.5
	// silentRMS is the level (of full scale) under which a block is
	// silent: silence is no evidence of sameness, so a segment does not
	// begin or end with silence.
	silentRMS = 0.001
)

// samples returns how many samples at pcmRate last d.
func samples(d time.Duration) int { return int(d * pcmRate / time.Second) }

// pcm reads audio stream idx of path from start for length, mono, at
// pcmRate.
func (f *Finder) pcm(ctx context.Context, path string, idx int, start, length time.Duration) ([]float32, error) {
	args := append(input(path, max(0, start), length), "-map", "0:"+strconv.Itoa(idx), "-vn", "-sn", "-dn",
		"-ac", "1", "-ar", strconv.Itoa(pcmRate), "-f", "s16le", "-acodec", "pcm_s16le", "-")
	out, _, err := f.run(ctx, path, f.limit(length), args)
	if err != nil {
		return nil, err
	}
	x := make([]float32, len(out)/2)
	for i := range x {
		x[i] = float32(int16(binary.LittleEndian.Uint16(out[2*i:]))) / 32768
	}
	if start < 0 {
		// The read began before the file: pad, so that x[0] is at start.
		x = append(make([]float32, samples(-start)), x...)
	}
	return x, nil
}

// corr is the normalised correlation of a and b (of the same length),
// and whether either is silent (then corr is 0).
func corr(a, b []float32) (float64, bool) {
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	n := float64(len(a))
	if n == 0 || math.Sqrt(aa/n) < silentRMS || math.Sqrt(bb/n) < silentRMS {
		return 0, true
	}
	return ab / math.Sqrt(aa*bb), false
}

// align returns the lag (in samples) by which b's samples trail a's:
// a[ref+k] matches b[ref+lag+k], searched within ±search of lag0, and
// the correlation there.
func align(a, b []float32, ref, n, lag0, search int) (int, float64) {
	best, bestC := 0, -1.0
	if ref < 0 || ref+n > len(a) {
		return 0, -1
	}
	for lag := lag0 - search; lag <= lag0+search; lag++ {
		j := ref + lag
		if j < 0 || j+n > len(b) {
			continue
		}
		if c, silent := corr(a[ref:ref+n], b[j:j+n]); !silent && c > bestC {
			best, bestC = lag, c
		}
	}
	return best, bestC
}

// edge walks from sample ref of a (matched by b at lag) block by block,
// backwards when dir is -1, forwards when +1, and returns the sample of
// a where the same audio ends: the outer edge of the last block of the
// same audio before one that is not; blocks silent in both are passed
// over but never end the walk's result.
func edge(a, b []float32, ref, lag, dir int) int {
	n := samples(blockLength)
	last := ref
	for p := ref; ; p += dir * n {
		lo := p
		if dir < 0 {
			lo = p - n
		}
		if lo < 0 || lo+n > len(a) || lo+lag < 0 || lo+lag+n > len(b) {
			return last
		}
		c, silent := corr(a[lo:lo+n], b[lo+lag:lo+lag+n])
		switch {
		case silent:
			aq, _ := corr(a[lo:lo+n], a[lo:lo+n])
			bq, _ := corr(b[lo+lag:lo+lag+n], b[lo+lag:lo+lag+n])
			if aq != 0 || bq != 0 {
				// One is silent, the other not: not the same audio.
				return last
			}
		case c < minSame:
			return last
		default:
			if dir < 0 {
				last = lo
			} else {
				last = lo + n
			}
		}
	}
}

// refine makes the edges of a segment that episodes a and b share exact:
// sa in a, sb in b, as the fingerprints gave them. An edge where the
// waveforms do not agree (the segment is not the same recording in both)
// is left as it was.
func (f *Finder) refine(ctx context.Context, pa string, ia int, pb string, ib int, sa, sb Span) (Span, Span, error) {
	d := sb.Start - sa.Start // b's time less a's within the segment
	// One read of each covers both edges.
	from := sa.Start - edgeReach
	length := sa.Duration() + 2*edgeReach
	xa, err := f.pcm(ctx, pa, ia, from, length)
	if err != nil {
		return sa, sb, err
	}
	xb, err := f.pcm(ctx, pb, ib, from+d-alignSearch, length+2*alignSearch)
	if err != nil {
		return sa, sb, err
	}
	shift := samples(alignSearch) // xb[k+shift] is at a's time of xa[k]
	outA, outB := sa, sb
	for _, end := range []bool{false, true} {
		at, dir := sa.Start, -1 // the edge as the items give it
		if end {
			at, dir = sa.End, 1
		}
		var ref, lag int
		c := -1.0
		for _, depth := range []time.Duration{alignDepth, 2 * alignDepth, sa.Duration() / 2} {
			depth = min(depth, sa.Duration()/2)
			inside := sa.Start + depth
			if end {
				inside = sa.End - depth - alignLength
			}
			ref = samples(inside - from)
			if lag, c = align(xa, xb, ref, samples(alignLength), shift, samples(alignSearch)); c >= minAligned {
				break
			}
		}
		if c < minAligned {
			f.logger().Debug("the waveforms of the shared audio differ: edge left as the fingerprints give it",
				"a", pa, "b", pb, "at", at, "correlation", c)
			continue
		}
		if end {
			ref += samples(alignLength)
		}
		p := edge(xa, xb, ref, lag, dir)
		t := from + time.Duration(p)*time.Second/pcmRate
		tb := t + d + time.Duration(lag-shift)*time.Second/pcmRate
		if end {
			outA.End, outB.End = t, tb
		} else {
			outA.Start, outB.Start = t, tb
		}
	}
	return outA, outB, nil
}
