package tasks

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"

	butler "github.com/plexbutler/butler"
	"github.com/plexbutler/butler/imagehash"
)

// BlurHashesVersion is the version of what GenerateBlurHashes stores.
const BlurHashesVersion = 1

// GenerateBlurHashes is the action of the GenerateBlurHashes task: a
// BlurHash (https://blurha.sh, a short string a player draws as a blurred
// placeholder while the real image loads) of each poster and art image
// RefreshLocalMedia found for an analysed item, and of each photo itself,
// stored as the item's blurhashes output (BlurHashesData). A new set of
// sidecar files has an item's BlurHashes made again, even one recorded
// while they were being made: the hashes of the set they were made of are
// then not recorded (the item is skipped, and made by the next run). An image that cannot
// be decoded is recorded with its reason and the others are hashed; an
// item all of whose images fail, fails. An image shared by many items (a
// show's poster beside every episode) is decoded once per server while it
// is unchanged.
type GenerateBlurHashes struct {
	// Index is the media index with its sidecars (both stores).
	Index interface {
		butler.OutputIndex
		butler.SidecarIndex
	}
	// Parallel is how many items are done at once (without item jobs); 0
	// or less means 1.
	Parallel int

	cache hashCache
}

var (
	_ butler.ItemAction = (*GenerateBlurHashes)(nil)
	_ butler.Backlogger = (*GenerateBlurHashes)(nil)
)

// BlurHashesData is the data of a blurhashes output.
type BlurHashesData struct {
	// Images are the item's images, in the order found.
	Images []BlurHashImage `json:"images"`
}

// BlurHashImage is the BlurHash of one image of an item.
type BlurHashImage struct {
	// Path is the image's file; Kind "poster", "art" or "photo".
	Path string `json:"path"`
	Kind string `json:"kind"`
	// Hash is its BlurHash; Error why there is none.
	Hash  string `json:"hash,omitempty"`
	Error string `json:"error,omitempty"`
}

func (g *GenerateBlurHashes) work() *outputWork {
	var index butler.OutputIndex
	if g.Index != nil {
		index = g.Index
	}
	return &outputWork{
		spec: outputSpec{kind: butler.OutputBlurHashes, version: BlurHashesVersion, what: "hashed the images of",
			mediaKinds: []butler.MediaKind{butler.MediaVideo, butler.MediaAudio, butler.MediaPhoto}},
		index: index, maker: blurMaker{g}, parallel: max(g.Parallel, 1),
	}
}

// Run hashes the images of the items that have no BlurHashes.
func (g *GenerateBlurHashes) Run(ctx context.Context, r butler.Reporter) error {
	return g.work().run(ctx, r)
}

// RunItem hashes one item's images, if it still needs it.
func (g *GenerateBlurHashes) RunItem(ctx context.Context, id int64, log *slog.Logger) butler.ItemResult {
	return g.work().one(ctx, log, id)
}

// Backlog counts the items left to do (butler.Backlogger).
func (g *GenerateBlurHashes) Backlog(ctx context.Context) (int, error) { return g.work().backlog(ctx) }

type blurMaker struct{ g *GenerateBlurHashes }

// errSidecarsReplaced is blurMaker's error when the item's sidecar set was
// replaced while its images were hashed: the item is skipped, nothing
// recorded, and a later run hashes the new set (notTheFile).
var errSidecarsReplaced = errors.New("its sidecar files were replaced while they were hashed")

func (m blurMaker) make(ctx context.Context, it butler.MediaItem, _ butler.MediaAnalysis, _ string) (made, error) {
	var images []BlurHashImage
	if it.Kind == butler.MediaPhoto {
		images = append(images, BlurHashImage{Path: it.Path, Kind: "photo"})
	}
	// The set's version goes with the output: should RefreshLocalMedia
	// replace the set before the output is saved, it is not saved.
	set, err := m.g.Index.MediaSidecarSet(ctx, it.ID)
	if err != nil {
		return made{}, fmt.Errorf("read the sidecars of %s: %w", it.Path, err)
	}
	for _, s := range set.Sidecars {
		if s.Kind == butler.SidecarPoster || s.Kind == butler.SidecarArt {
			images = append(images, BlurHashImage{Path: s.Path, Kind: string(s.Kind)})
		}
	}
	failed := 0
	for i := range images {
		if err := ctx.Err(); err != nil {
			return made{}, err
		}
		h, err := m.g.cache.hash(images[i].Path)
		var ie *imagehash.ImageError
		switch {
		case errors.As(err, &ie):
			images[i].Error = ie.Reason
			failed++
		case errors.Is(err, fs.ErrNotExist):
			images[i].Error = "the file is gone (RefreshLocalMedia records it)"
			failed++
		case err != nil:
			return made{}, err
		default:
			images[i].Hash = h
		}
	}
	if failed > 0 && failed == len(images) {
		// The images may have failed because RefreshLocalMedia replaced
		// the set meanwhile (a poster.jpg replaced by a poster.png): that
		// is no fault of the item's, whose new set is to be hashed.
		if now, err := m.g.Index.MediaSidecarSet(ctx, it.ID); err == nil && now.Version != set.Version {
			return made{}, errSidecarsReplaced
		}
		return made{}, &itemFault{reason: fmt.Sprintf("no image could be hashed: %s: %s", images[0].Path, images[0].Error)}
	}
	if images == nil {
		images = []BlurHashImage{}
	}
	out, err := jsonMade(BlurHashesData{Images: images})
	out.sidecars = set.Version
	return out, err
}

// hashCache keeps the BlurHashes of the images hashed lately, by path,
// size and modification time: a show's poster is decoded once for all
// its episodes. It holds at most hashCacheMax images, and starts afresh
// when full.
type hashCache struct {
	mu sync.Mutex
	m  map[hashKey]string
}

type hashKey struct {
	path  string
	size  int64
	mtime int64
}

const hashCacheMax = 4096

func (c *hashCache) hash(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	k := hashKey{path, fi.Size(), fi.ModTime().UnixNano()}
	c.mu.Lock()
	h, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	h, err = imagehash.HashFile(path)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= hashCacheMax {
		c.m = map[hashKey]string{}
	}
	c.m[k] = h
	c.mu.Unlock()
	return h, nil
}
