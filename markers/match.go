package markers

import (
	"slices"
)

// matcher compares fingerprints.
type matcher struct {
	// maxDiff is the most bits in which two items may differ and still
	// match.
	maxDiff int
	// maxGap is the most items between two matches of one run.
	maxGap int
	// maxRepeat leaves out of the index the items that occur more often
	// in a fingerprint: silence and steady tones, which match anything
	// like them at any shift.
	maxRepeat int
}

// maxShifts bounds the shifts compare tries, those with the most equal
// items first: audio truly shared gives many at one shift, so that a
// pair of long fingerprints with many chance equalities costs no more
// than this many passes.
const maxShifts = 200

// run is a stretch of fingerprint a that matches one of b: items a0 to a1
// (inclusive) of a match items a0+shift to a1+shift of b.
type run struct {
	a0, a1, shift int
	// matched counts the matching items within the run; score is
	// matched less the items that did not match.
	matched, score int
}

// len is the run's length in items.
func (r run) len() int { return r.a1 - r.a0 + 1 }

// static reports whether item i of fp repeats the one before: audio that
// does not change (silence, a held tone) proves nothing when it matches.
func static(fp []uint32, i int) bool { return i > 0 && fp[i] == fp[i-1] }

// shifts returns the shifts (index in b minus index in a) at which an
// item of a equals one of b, most frequent first, items that repeat more
// than maxRepeat times in either left out.
func (m matcher) shifts(a, b []uint32) []int {
	count := func(fp []uint32) map[uint32]int {
		n := make(map[uint32]int, len(fp))
		for _, v := range fp {
			n[v]++
		}
		return n
	}
	na := count(a)
	index := make(map[uint32][]int, len(b))
	for j, v := range b {
		if !static(b, j) {
			index[v] = append(index[v], j)
		}
	}
	votes := map[int]int{}
	for i, v := range a {
		if static(a, i) || na[v] > m.maxRepeat {
			continue
		}
		js := index[v]
		if len(js) > m.maxRepeat {
			continue
		}
		for _, j := range js {
			votes[j-i]++
		}
	}
	out := make([]int, 0, len(votes))
	for s := range votes {
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y int) int {
		if votes[x] != votes[y] {
			return votes[y] - votes[x]
		}
		return x - y
	})
	return out
}

// longest returns the best run of a and b matching at shift: the
// stretch whose score is highest, each matching item (differing in at
// most maxDiff bits) counting +1 and each other item -1, so that a run
// holds more matching items than not; items both static count nothing,
// and no more than maxGap items may pass without a match.
func (m matcher) longest(a, b []uint32, shift int) (run, bool) {
	lo := max(0, -shift)
	hi := min(len(a), len(b)-shift)
	var best, cur run
	score := 0
	open := false
	last := 0
	for i := lo; i < hi; i++ {
		j := i + shift
		if static(a, i) && static(b, j) {
			if open && i-last > m.maxGap {
				open = false
			}
			continue
		}
		if differ(a[i], b[j]) > m.maxDiff {
			if open {
				score--
				if score <= 0 || i-last > m.maxGap {
					open = false
				}
			}
			continue
		}
		if !open {
			cur, score, open = run{a0: i, shift: shift}, 0, true
		}
		score++
		cur.a1, cur.matched, cur.score, last = i, cur.matched+1, score, i
		if score > best.score {
			best = cur
		}
	}
	return best, best.score > 0
}

// compare returns the best run (of the highest score) shared by a and b,
// over the shifts at which some of their items are equal; false when
// they share none. Runs shorter than minLen items or longer than maxLen
// are left out.
func (m matcher) compare(a, b []uint32, minLen, maxLen int) (run, bool) {
	var best run
	have := false
	shifts := m.shifts(a, b)
	for _, s := range shifts[:min(len(shifts), maxShifts)] {
		r, ok := m.longest(a, b, s)
		if !ok || r.len() < minLen || r.len() > maxLen {
			continue
		}
		if !have || r.score > best.score || (r.score == best.score && r.len() > best.len()) {
			best, have = r, true
		}
	}
	return best, have
}
