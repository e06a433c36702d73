package tasks

import (
	"context"
	"encoding/json"
	"log/slog"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/loudness"
)

// LoudnessVersion is the version of what LoudnessAnalysis stores: raise it
// when the measurement or its stored form changes, and every item is
// measured again.
const LoudnessVersion = 1

// LoudnessAnalysis is the action of the LoudnessAnalysis task: for every
// analysed video and music item, the EBU R128 loudness of each audio
// stream (integrated loudness, loudness range, true peak) and the
// ReplayGain 2.0 gain and peak derived from it, measured with ffmpeg
// (package loudness) in one pass over the file, and stored as the item's
// loudness output (LoudnessData). An item without audio is recorded with
// no streams.
//
// As the media analysis does, it is an item action: on a server whose
// queue carries item jobs, any server's item workers measure its items; a
// file ffmpeg cannot read fails alone and is tried again after a day, then
// two, four... up to 32 days; the run stops promptly when told to (ffmpeg
// killed with its process group), and the next run goes on with the rest.
type LoudnessAnalysis struct {
	// Index is the media index (the server's store).
	Index butler.OutputIndex
	// Analyzer measures; nil means a zero loudness.Analyzer.
	Analyzer *loudness.Analyzer
	// Parallel is how many files are measured at once (without item
	// jobs); 0 or less means 1.
	Parallel int
}

var (
	_ butler.ItemAction = (*LoudnessAnalysis)(nil)
	_ butler.Backlogger = (*LoudnessAnalysis)(nil)
)

// LoudnessData is the data of a loudness output.
type LoudnessData struct {
	// Streams are the audio streams' loudness, in stream order.
	Streams []LoudnessStream `json:"streams"`
}

// LoudnessStream is the loudness of one audio stream, as stored.
type LoudnessStream struct {
	Index      int     `json:"index"`
	Integrated float64 `json:"integratedLufs"`
	Range      float64 `json:"rangeLu"`
	TruePeak   float64 `json:"truePeakDbtp"`
	Gain       float64 `json:"replayGainDb"`
	Peak       float64 `json:"replayGainPeak"`
	Silent     bool    `json:"silent,omitempty"`
}

func (a *LoudnessAnalysis) work() *outputWork {
	an := a.Analyzer
	if an == nil {
		an = &loudness.Analyzer{}
	}
	return &outputWork{
		spec: outputSpec{kind: butler.OutputLoudness, version: LoudnessVersion, what: "measured",
			mediaKinds: []butler.MediaKind{butler.MediaVideo, butler.MediaAudio}},
		index: a.Index, maker: loudnessMaker{an}, parallel: max(a.Parallel, 1),
	}
}

// Run measures the items not measured yet.
func (a *LoudnessAnalysis) Run(ctx context.Context, r butler.Reporter) error {
	return a.work().run(ctx, r)
}

// RunItem measures one item, if it still needs it.
func (a *LoudnessAnalysis) RunItem(ctx context.Context, id int64, log *slog.Logger) butler.ItemResult {
	return a.work().one(ctx, log, id)
}

// Backlog counts the items left to measure (butler.Backlogger).
func (a *LoudnessAnalysis) Backlog(ctx context.Context) (int, error) { return a.work().backlog(ctx) }

// loudnessMaker measures one item.
type loudnessMaker struct{ an *loudness.Analyzer }

func (m loudnessMaker) make(ctx context.Context, it butler.MediaItem, a butler.MediaAnalysis, _ string) (made, error) {
	streams, err := m.an.Measure(ctx, it.Path, a)
	if err != nil {
		return made{}, err // a *loudness.FileError is the item's fault
	}
	d := LoudnessData{Streams: make([]LoudnessStream, 0, len(streams))}
	for _, s := range streams {
		d.Streams = append(d.Streams, LoudnessStream{Index: s.Index, Integrated: s.Integrated, Range: s.Range,
			TruePeak: s.TruePeak, Gain: s.Gain, Peak: s.Peak, Silent: s.Silent})
	}
	data, err := json.Marshal(d)
	if err != nil {
		return made{}, err
	}
	return made{data: data}, nil
}
