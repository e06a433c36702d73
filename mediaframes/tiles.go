package mediaframes

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"path"
	"strings"
)

// Jellyfin's trickplay defaults: sheets of 10×10 pictures, encoded at
// JPEG quality 90.
const (
	DefaultTileCols    = 10
	DefaultTileRows    = 10
	DefaultTileQuality = 90
)

// Tiles lays pictures (all of one size, as Previews makes them) out in
// sheets of cols×rows, as Jellyfin's trickplay images are: left to right,
// then top to bottom, picture i on sheet i/(cols×rows); every sheet is
// cols×width by rows×height pixels, the last one's unused places black.
// The sheets are JPEGs at quality (1 to 100; 0 means
// DefaultTileQuality), made in Go from the pictures: no second pass of
// ffmpeg. cols or rows 0 means Jellyfin's 10.
func Tiles(pictures [][]byte, cols, rows, quality int) ([][]byte, error) {
	cols, rows, quality = cmpOr(cols, DefaultTileCols), cmpOr(rows, DefaultTileRows), cmpOr(quality, DefaultTileQuality)
	switch {
	case len(pictures) == 0:
		return nil, fmt.Errorf("tiles: no pictures to lay out")
	case cols > 100 || rows > 100:
		return nil, fmt.Errorf("tiles: a sheet of %dx%d: give at most 100 columns and 100 rows", cols, rows)
	case quality > 100:
		return nil, fmt.Errorf("tiles: JPEG quality %d: give 1 to 100", quality)
	}
	per := cols * rows
	var sheets [][]byte
	var sheet *image.RGBA
	var w, h int
	for i, data := range pictures {
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("tiles: picture %d is not a readable JPEG: %v", i, err)
		}
		b := img.Bounds()
		if i == 0 {
			w, h = b.Dx(), b.Dy()
			if int64(w)*int64(cols) > 65535 || int64(h)*int64(rows) > 65535 {
				return nil, fmt.Errorf("tiles: sheets of %dx%d pictures of %dx%d exceed JPEG's 65535 pixels", cols, rows, w, h)
			}
		} else if b.Dx() != w || b.Dy() != h {
			return nil, fmt.Errorf("tiles: picture %d is %dx%d, picture 0 %dx%d: they must all be of one size", i, b.Dx(), b.Dy(), w, h)
		}
		if i%per == 0 {
			if sheet != nil {
				if sheets, err = appendJPEG(sheets, sheet, quality); err != nil {
					return nil, err
				}
			}
			sheet = image.NewRGBA(image.Rect(0, 0, cols*w, rows*h))
			draw.Draw(sheet, sheet.Bounds(), image.Black, image.Point{}, draw.Src)
		}
		cell := i % per
		at := image.Pt(cell%cols*w, cell/cols*h)
		draw.Draw(sheet, image.Rectangle{Min: at, Max: at.Add(image.Pt(w, h))}, img, b.Min, draw.Src)
	}
	return appendJPEG(sheets, sheet, quality)
}

func appendJPEG(sheets [][]byte, img image.Image, quality int) ([][]byte, error) {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("tiles: encode sheet %d: %w", len(sheets), err)
	}
	return append(sheets, b.Bytes()), nil
}

// TrickplayFolder returns the folder, relative and "/"-separated, of the
// trickplay sheets of the media file named mediaName (its base name, with
// or without a folder) that Jellyfin reads when they are saved with the
// media:
//
//	<name without extension>.trickplay/<width> - <cols>x<rows>
//
// the sheets in it named 0.jpg, 1.jpg and so on (TrickplaySheetName).
// This is Jellyfin's layout as its TrickplayManager.GetTrickplayDirectory
// (Jellyfin.Server.Implementations/Trickplay/TrickplayManager.cs) builds
// it.
func TrickplayFolder(mediaName string, width, cols, rows int) string {
	base := path.Base(strings.ReplaceAll(mediaName, "\\", "/"))
	if ext := path.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	return fmt.Sprintf("%s.trickplay/%d - %dx%d", base, width, cols, rows)
}

// TrickplaySheetName returns the file name of sheet i in a trickplay
// folder: "0.jpg", "1.jpg", ...
func TrickplaySheetName(i int) string { return fmt.Sprintf("%d.jpg", i) }
