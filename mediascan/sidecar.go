package mediascan

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/plexbutler/butler"
)

// The names of sidecar files, as Plex's local media assets know them
// (https://support.plex.tv/articles/200220677-local-media-assets-movies/,
// https://support.plex.tv/articles/200471133-adding-local-subtitles-to-your-media/).
// Names and extensions compare in any case.
var (
	// subtitleExts are the extensions of subtitle files; .idx and .sub
	// are the two halves of a VobSub pair, each recorded.
	subtitleExts = []string{".ass", ".idx", ".srt", ".ssa", ".sub", ".vtt"}
	// imageExts are the extensions of posters and art.
	imageExts = []string{".jpeg", ".jpg", ".png", ".tbn"}
	// folderPosters and folderArt are the folder's images, which go with
	// every media file in the folder; a "-N" suffix numbers more of them
	// ("poster-2.jpg").
	folderPosters = []string{"cover", "default", "folder", "movie", "poster"}
	folderArt     = []string{"art", "backdrop", "background", "fanart"}
	// itemPosterSuffixes and itemArtSuffixes name an item's own images
	// after its base name ("Alien (1979)-fanart.jpg"); the base name alone
	// ("Alien (1979).jpg") is a poster too.
	itemPosterSuffixes = []string{"-cover", "-poster"}
	itemArtSuffixes    = []string{"-art", "-backdrop", "-background", "-fanart"}
	// folderNFOs are the folder's .nfo files (Kodi's "movie.nfo").
	folderNFOs = []string{"movie"}
)

// Sidecars returns the sidecar files of the media file named media among
// names, the names of the entries of its folder (media's included), in
// the order of names: subtitles, posters, art and .nfo files. Each comes
// with its kind and, for a subtitle, the language and flags its name
// gives; its Path is its name alone, and its Size and ModTime are left to
// the caller, which knows the files.
//
// A subtitle is named after the media file: its base name (the name
// without the extension), then optionally a language code of two or three
// letters ("en", "eng", "pt-BR") and flags ("forced"; "sdh", "cc" or "hi"
// for the deaf and hard of hearing; "default"), each after a dot:
// "Alien (1979).en.sdh.srt". A name that fits two media files of the
// folder ("Alien.srt" and "Alien.Director's Cut.en.srt" beside
// "Alien.mkv" and "Alien.Director's Cut.mkv") goes with the longer base
// name. The images and .nfo files of the folder ("poster.jpg",
// "fanart.png", "movie.nfo") go with every media file in it; those named
// after a media file ("Alien (1979).jpg", "Alien (1979)-fanart.jpg",
// "Alien (1979).nfo") with that one alone.
//
// A photo library has no sidecars: its images are media.
func Sidecars(lib butler.LibraryKind, media string, names []string) []butler.MediaSidecar {
	return NewFolder(lib, names).Sidecars(media)
}

// Folder is the listing of one folder of a library of kind lib, indexed
// for Sidecars: made once for the folder, it finds the sidecars of each
// of its media files in about the time of reading those sidecars (times
// the logarithm of the folder's size), not of reading the whole listing,
// so that a flat folder of thousands of films costs what its files do.
// It is safe for concurrent use once made.
type Folder struct {
	lib   butler.LibraryKind
	names []string
	// byFold holds the index in names of every name, in the order of the
	// names' folded forms (fold), for the names that start with a media
	// file's base name.
	byFold []folded
	// shared holds the indexes of the names that may go with every media
	// file whatever its name: the folder's images and .nfo files.
	shared []int
	// media holds the base names of the media files, by folded base
	// name, with the files' names: for the subtitle rule of longer names.
	media map[string][]mediaName
}

type folded struct {
	key string
	i   int
}

type mediaName struct{ name, base string }

// NewFolder indexes names, the names of the entries of a folder of a
// library of kind lib, for Sidecars.
func NewFolder(lib butler.LibraryKind, names []string) *Folder {
	f := &Folder{lib: lib, names: names}
	if lib == butler.LibraryPhotos {
		return f
	}
	f.byFold = make([]folded, len(names))
	f.media = map[string][]mediaName{}
	for i, n := range names {
		f.byFold[i] = folded{fold(n), i}
		if _, ok := Kind(lib, n); ok {
			b := strings.TrimSuffix(n, filepath.Ext(n))
			f.media[fold(b)] = append(f.media[fold(b)], mediaName{n, b})
		}
		ext, stem := splitExt(n)
		lstem := strings.ToLower(stem)
		switch {
		case slices.Contains(imageExts, ext):
			if u := unnumbered(lstem); slices.Contains(folderPosters, u) || slices.Contains(folderArt, u) {
				f.shared = append(f.shared, i)
			}
		case ext == ".nfo":
			if slices.Contains(folderNFOs, lstem) {
				f.shared = append(f.shared, i)
			}
		}
	}
	slices.SortFunc(f.byFold, func(a, b folded) int { return strings.Compare(a.key, b.key) })
	return f
}

// Sidecars returns the sidecars of the media file named media among the
// folder's names, as the function Sidecars does.
//
// A file named after media starts with media's base name (in any case)
// followed by a dot or a hyphen, so its folded name starts with the
// folded base name and a dot or a hyphen: those names are found by a
// search of byFold, then each (and each shared name) is judged as
// sidecar judges it.
func (f *Folder) Sidecars(media string) []butler.MediaSidecar {
	if f.lib == butler.LibraryPhotos {
		return nil
	}
	base := strings.TrimSuffix(media, filepath.Ext(media))
	fb := fold(base)
	candidates := slices.Clone(f.shared)
	for _, sep := range []string{".", "-"} {
		prefix := fb + sep
		i, _ := slices.BinarySearchFunc(f.byFold, prefix, func(e folded, p string) int { return strings.Compare(e.key, p) })
		for ; i < len(f.byFold) && strings.HasPrefix(f.byFold[i].key, prefix); i++ {
			candidates = append(candidates, f.byFold[i].i)
		}
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)
	// longer reports whether a subtitle's stem is named after another
	// media file of the folder whose base name is longer than media's:
	// the subtitle is then that one's. Such a base name ends where the
	// stem has a dot, or at its end.
	longer := func(stem string) bool {
		for j := len(base) + 1; j <= len(stem); j++ {
			if j < len(stem) && stem[j] != '.' {
				continue
			}
			for _, m := range f.media[fold(stem[:j])] {
				if _, theirs := after(stem, m.base); theirs && m.name != media && len(m.base) > len(base) {
					return true
				}
			}
		}
		return false
	}
	var out []butler.MediaSidecar
	for _, i := range candidates {
		n := f.names[i]
		if n == media || strings.HasPrefix(n, ".") {
			continue
		}
		if s, ok := sidecar(base, n, longer); ok {
			s.Path = n
			out = append(out, s)
		}
	}
	return out
}

// fold returns s with each character replaced by the least of the
// characters it equals in any case (unicode.SimpleFold), and each byte
// that is not UTF-8 by U+FFFD: two strings are equal under
// strings.EqualFold exactly when their folded forms are equal.
func fold(s string) string {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'a' <= c && c <= 'z' {
			simple = false
			break
		}
	}
	if simple {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b = append(b, byte(r))
			continue
		}
		least := r
		for o := unicode.SimpleFold(r); o != r; o = unicode.SimpleFold(o) {
			least = min(least, o)
		}
		b = utf8.AppendRune(b, least)
	}
	return string(b)
}

// sidecar says what the file named name is to the media file whose base
// name is base, if anything; longer reports whether a subtitle's stem
// belongs to a media file of the folder with a longer base name.
func sidecar(base, name string, longer func(stem string) bool) (butler.MediaSidecar, bool) {
	ext, stem := splitExt(name)
	lstem := strings.ToLower(stem)
	switch {
	case slices.Contains(subtitleExts, ext):
		rest, ok := after(stem, base)
		if !ok || longer(stem) {
			return butler.MediaSidecar{}, false
		}
		s := butler.MediaSidecar{Kind: butler.SidecarSubtitle}
		s.Language, s.Flags = subtitleTags(rest)
		return s, true
	case slices.Contains(imageExts, ext):
		switch {
		case slices.Contains(folderPosters, unnumbered(lstem)), strings.EqualFold(stem, base),
			hasSuffixAfter(stem, base, itemPosterSuffixes):
			return butler.MediaSidecar{Kind: butler.SidecarPoster}, true
		case slices.Contains(folderArt, unnumbered(lstem)), hasSuffixAfter(stem, base, itemArtSuffixes):
			return butler.MediaSidecar{Kind: butler.SidecarArt}, true
		}
	case ext == ".nfo":
		if strings.EqualFold(stem, base) || slices.Contains(folderNFOs, lstem) {
			return butler.MediaSidecar{Kind: butler.SidecarNFO}, true
		}
	}
	return butler.MediaSidecar{}, false
}

// splitExt returns the extension of name in lower case and the name
// without it (its stem). The stem is cut at the extension as written: a
// lower-case extension can be longer or shorter in bytes (".\xff" is
// ".\ufffd"), and would cut it in the wrong place.
func splitExt(name string) (ext, stem string) {
	e := filepath.Ext(name)
	return strings.ToLower(e), name[:len(name)-len(e)]
}

// after returns what follows base and a dot in stem ("" when stem is
// base), in any case, and whether stem is named after base at all.
func after(stem, base string) (string, bool) {
	if len(stem) < len(base) || !strings.EqualFold(stem[:len(base)], base) {
		return "", false
	}
	rest := stem[len(base):]
	if rest == "" {
		return "", true
	}
	if rest[0] != '.' {
		return "", false
	}
	return rest[1:], true
}

// hasSuffixAfter reports whether stem is base followed by one of
// suffixes, in any case.
func hasSuffixAfter(stem, base string, suffixes []string) bool {
	if len(stem) <= len(base) || !strings.EqualFold(stem[:len(base)], base) {
		return false
	}
	return slices.Contains(suffixes, strings.ToLower(stem[len(base):]))
}

// unnumbered strips a "-N" suffix from a lower-case stem ("poster-2").
func unnumbered(stem string) string {
	i := strings.LastIndexByte(stem, '-')
	if i < 0 {
		return stem
	}
	if _, err := strconv.ParseUint(stem[i+1:], 10, 16); err != nil {
		return stem
	}
	return stem[:i]
}

// subtitleTags reads the language and flags of a subtitle from the dotted
// tags after its base name ("en.sdh.forced"): the first tag that is a
// language code is the language (lower case), the known flags are flags
// (sorted, each once), and any other tag (a title) is passed over.
func subtitleTags(rest string) (string, []string) {
	if rest == "" {
		return "", nil
	}
	lang := ""
	var flags []string
	for tag := range strings.SplitSeq(rest, ".") {
		t := strings.ToLower(tag)
		switch t {
		case "forced":
			flags = append(flags, butler.SubtitleForced)
		case "sdh", "cc", "hi":
			flags = append(flags, butler.SubtitleSDH)
		case "default":
			flags = append(flags, butler.SubtitleDefault)
		default:
			if lang == "" && isLanguageCode(t) {
				lang = t
			}
		}
	}
	slices.Sort(flags)
	return lang, slices.Compact(flags)
}

// isLanguageCode reports whether t (lower case) looks like an ISO 639-1
// or 639-2 code, optionally with a region: "en", "eng", "pt-br",
// "zh-hans".
func isLanguageCode(t string) bool {
	code, region, hasRegion := strings.Cut(t, "-")
	if len(code) < 2 || len(code) > 3 || !letters(code) {
		return false
	}
	if !hasRegion {
		return true
	}
	return len(region) >= 2 && len(region) <= 4 && alnum(region)
}

func letters(s string) bool {
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func alnum(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
