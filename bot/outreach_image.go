package bot

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/disintegration/imaging"
)

// Faces in outreach photos. A photo is shown to the outreach volunteer with
// a numbered 3×3 grid over it; they name the squares that show a face and
// those squares are destroyed beyond recognition: pixelated into blocks a
// tenth of the square wide, then Gaussian-blurred, inside the square only,
// so the rest of the photo is untouched. Everything is written as a new file
// next to the card's other outreach files; the original stays where the
// channel saved it, under the data directory, and is never sent anywhere.
// Re-encoding also drops the original's metadata (EXIF, with its GPS
// position).

const (
	gridSize = 3
	// maxPostSide bounds the long side of grid views and blurred copies:
	// plenty for a post, small enough for a phone, and quick to work on
	// inside a message's transaction.
	maxPostSide = 2048
)

// cellRect is square n (1–9, left to right, top to bottom) of bounds.
func cellRect(b image.Rectangle, n int) image.Rectangle {
	i := n - 1
	row, col := i/gridSize, i%gridSize
	return image.Rect(
		b.Min.X+col*b.Dx()/gridSize, b.Min.Y+row*b.Dy()/gridSize,
		b.Min.X+(col+1)*b.Dx()/gridSize, b.Min.Y+(row+1)*b.Dy()/gridSize)
}

// loadPhoto opens an image the right way up (EXIF orientation) and no
// larger than maxPostSide.
func loadPhoto(path string) (*image.NRGBA, error) {
	img, err := imaging.Open(path, imaging.AutoOrientation(true))
	if err != nil {
		return nil, fmt.Errorf("open photo: %w", err)
	}
	b := img.Bounds()
	if b.Dx() > maxPostSide || b.Dy() > maxPostSide {
		return imaging.Fit(img, maxPostSide, maxPostSide, imaging.Linear), nil
	}
	return imaging.Clone(img), nil
}

// blurCells returns a copy of img with the given squares pixelated and
// blurred; every pixel outside them is as it was.
func blurCells(img image.Image, cells []int) *image.NRGBA {
	out := imaging.Clone(img)
	b := out.Bounds()
	for _, n := range cells {
		if n < 1 || n > gridSize*gridSize {
			continue
		}
		r := cellRect(b, n)
		if r.Empty() {
			continue
		}
		// Pixelate into blocks a tenth of the square wide, then blur the
		// blocks into each other. The blur is done at a quarter of the
		// size (a Gaussian is costly on a 12-megapixel photo) and scaled
		// back smoothly, which looks the same.
		block := max(2, max(r.Dx(), r.Dy())/10)
		sub := imaging.Crop(out, r)
		small := imaging.Resize(sub, max(1, r.Dx()/block), max(1, r.Dy()/block), imaging.Box)
		blocks := imaging.Resize(small, max(1, r.Dx()/4), max(1, r.Dy()/4), imaging.NearestNeighbor)
		blurred := imaging.Blur(blocks, max(1, float64(block)/8))
		draw.Draw(out, r, imaging.Resize(blurred, r.Dx(), r.Dy(), imaging.Linear), image.Point{}, draw.Src)
	}
	return out
}

var (
	gridInk     = color.NRGBA{R: 255, G: 214, B: 0, A: 255}
	gridOutline = color.NRGBA{A: 255}
)

// gridView returns a copy of img with the 3×3 grid drawn over it and each
// square's number in its top left corner.
func gridView(img image.Image) *image.NRGBA {
	out := imaging.Clone(img)
	b := out.Bounds()
	w := max(2, min(b.Dx(), b.Dy())/160)
	fill := func(r image.Rectangle, c color.Color) {
		draw.Draw(out, r.Intersect(b), &image.Uniform{C: c}, image.Point{}, draw.Src)
	}
	for k := 1; k < gridSize; k++ {
		x := b.Min.X + k*b.Dx()/gridSize
		y := b.Min.Y + k*b.Dy()/gridSize
		fill(image.Rect(x-w, b.Min.Y, x+w, b.Max.Y), gridOutline)
		fill(image.Rect(b.Min.X, y-w, b.Max.X, y+w), gridOutline)
		fill(image.Rect(x-w/2, b.Min.Y, x+w-w/2, b.Max.Y), gridInk)
		fill(image.Rect(b.Min.X, y-w/2, b.Max.X, y+w-w/2), gridInk)
	}
	for n := 1; n <= gridSize*gridSize; n++ {
		r := cellRect(b, n)
		scale := max(2, min(r.Dx(), r.Dy())/28)
		pad := scale
		at := r.Min.Add(image.Pt(w+pad, w+pad))
		fill(image.Rect(at.X, at.Y, at.X+3*scale+2*pad, at.Y+5*scale+2*pad), gridOutline)
		glyph := digits[n]
		for row, line := range glyph {
			for col, ch := range line {
				if ch != '#' {
					continue
				}
				x, y := at.X+pad+col*scale, at.Y+pad+row*scale
				fill(image.Rect(x, y, x+scale, y+scale), gridInk)
			}
		}
	}
	return out
}

// digits are 3×5 bitmaps of the square numbers.
var digits = [10][5]string{
	{"###", "#.#", "#.#", "#.#", "###"},
	{".#.", "##.", ".#.", ".#.", "###"},
	{"###", "..#", "###", "#..", "###"},
	{"###", "..#", ".##", "..#", "###"},
	{"#.#", "#.#", "###", "..#", "..#"},
	{"###", "#..", "###", "..#", "###"},
	{"###", "#..", "###", "#.#", "###"},
	{"###", "..#", ".#.", ".#.", ".#."},
	{"###", "#.#", "###", "#.#", "###"},
	{"###", "#.#", "###", "..#", "###"},
}

// savePhoto writes img to path (JPEG, or PNG for a .png path) through a
// temporary file, so a crash never leaves half a photo to be sent.
func savePhoto(img image.Image, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	format := imaging.JPEG
	if strings.EqualFold(filepath.Ext(path), ".png") {
		format = imaging.PNG
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".photo-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := imaging.Encode(f, img, format, imaging.JPEGQuality(92)); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// postExt is the extension of the copies made of a photo: PNG stays PNG,
// everything else becomes JPEG.
func postExt(original string) string {
	if strings.EqualFold(filepath.Ext(original), ".png") {
		return ".png"
	}
	return ".jpg"
}

// parseCells reads "1 4 5", "1,4,5", "145", "blur 1 4 5", "none" or "all".
func parseCells(s string) ([]int, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSpace(strings.TrimPrefix(s, "blur"))
	switch s {
	case "none", "no", "no face", "no faces", "0", "कोई नहीं", "नहीं":
		return []int{}, true
	case "all", "every", "सब":
		return []int{1, 2, 3, 4, 5, 6, 7, 8, 9}, true
	}
	var seen [10]bool
	var cells []int
	for _, r := range s {
		switch {
		case r >= '1' && r <= '9':
			n := int(r - '0')
			if !seen[n] {
				seen[n] = true
				cells = append(cells, n)
			}
		case r >= '१' && r <= '९':
			n := int(r-'१') + 1
			if !seen[n] {
				seen[n] = true
				cells = append(cells, n)
			}
		case r == ' ' || r == ',' || r == ';' || r == '+' || r == '&' || r == '-' || r == '.':
		default:
			return nil, false
		}
	}
	if len(cells) == 0 {
		return nil, false
	}
	slices.Sort(cells)
	return cells, true
}
