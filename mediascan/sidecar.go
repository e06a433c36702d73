package mediascan

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"

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
	if lib == butler.LibraryPhotos {
		return nil
	}
	base := strings.TrimSuffix(media, filepath.Ext(media))
	// The base names of the folder's other media files, longer than
	// media's: the subtitles named after them are theirs.
	var longer []string
	for _, n := range names {
		if _, ok := Kind(lib, n); ok && n != media {
			if b := strings.TrimSuffix(n, filepath.Ext(n)); len(b) > len(base) {
				longer = append(longer, b)
			}
		}
	}
	var out []butler.MediaSidecar
	for _, n := range names {
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

// sidecar says what the file named name is to the media file whose base
// name is base, if anything.
func sidecar(base, name string, longer []string) (butler.MediaSidecar, bool) {
	ext := strings.ToLower(filepath.Ext(name))
	stem := name[:len(name)-len(ext)]
	lstem := strings.ToLower(stem)
	switch {
	case slices.Contains(subtitleExts, ext):
		rest, ok := after(stem, base)
		if !ok {
			return butler.MediaSidecar{}, false
		}
		for _, b := range longer {
			if _, theirs := after(stem, b); theirs {
				return butler.MediaSidecar{}, false
			}
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
