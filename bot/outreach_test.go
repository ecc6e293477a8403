package bot

import (
	"image"
	"image/color"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/disintegration/imaging"

	"sewa/store"
)

// noisyImage is a deterministic image whose every square is full of
// detail, so that blurring any of it shows.
func noisyImage(w, h int) *image.NRGBA {
	rng := rand.New(rand.NewPCG(7, 11))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(rng.IntN(256)), G: uint8(rng.IntN(256)), B: uint8(rng.IntN(256)), A: 255})
		}
	}
	return img
}

// regionStats compares region r of two images: how many pixels differ and
// the mean absolute difference per channel.
func regionStats(a, b image.Image, r image.Rectangle) (changed int, meanDiff float64) {
	total := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca := color.NRGBAModel.Convert(a.At(x, y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(x, y)).(color.NRGBA)
			d := absDiff(ca.R, cb.R) + absDiff(ca.G, cb.G) + absDiff(ca.B, cb.B)
			if d > 0 {
				changed++
			}
			total += d
		}
	}
	return changed, float64(total) / float64(3*r.Dx()*r.Dy())
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// variance of the red channel in r: detail left in a square.
func variance(img image.Image, r image.Rectangle) float64 {
	var sum, sq float64
	n := float64(r.Dx() * r.Dy())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := float64(color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA).R)
			sum += v
			sq += v * v
		}
	}
	mean := sum / n
	return sq/n - mean*mean
}

// Blurring changes exactly the chosen squares, beyond recognition, and
// keeps every other pixel as it was; in memory and through a PNG file.
func TestBlurChangesExactlyTheChosenCells(t *testing.T) {
	cases := []struct {
		name  string
		w, h  int
		cells []int
	}{
		{"corner and centre", 300, 300, []int{1, 5}},
		{"a row, odd size", 301, 200, []int{7, 8, 9}},
		{"none", 90, 60, []int{}},
		{"all", 120, 90, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := noisyImage(c.w, c.h)
			out := blurCells(orig, c.cells)
			path := filepath.Join(t.TempDir(), "blurred.png")
			if err := savePhoto(out, path); err != nil {
				t.Fatal(err)
			}
			fromFile, err := imaging.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if out.Bounds() != orig.Bounds() || fromFile.Bounds() != orig.Bounds() {
				t.Fatalf("bounds %v and %v, want %v", out.Bounds(), fromFile.Bounds(), orig.Bounds())
			}
			for _, img := range []image.Image{out, fromFile} {
				for n := 1; n <= 9; n++ {
					r := cellRect(orig.Bounds(), n)
					changed, diff := regionStats(orig, img, r)
					if !slices.Contains(c.cells, n) {
						if changed != 0 {
							t.Errorf("square %d was not chosen but %d pixels changed", n, changed)
						}
						continue
					}
					// Noise averages out: most pixels change, by a lot, and
					// almost no detail is left.
					if changed < r.Dx()*r.Dy()*9/10 || diff < 40 {
						t.Errorf("square %d: %d of %d pixels changed, mean difference %.1f", n, changed, r.Dx()*r.Dy(), diff)
					}
					if before, after := variance(orig, r), variance(img, r); after > before/20 {
						t.Errorf("square %d keeps detail: variance %.0f → %.0f", n, before, after)
					}
				}
			}
		})
	}
}

// The squares tile the picture exactly, whatever its size.
func TestCellsTileTheImage(t *testing.T) {
	for _, b := range []image.Rectangle{image.Rect(0, 0, 300, 300), image.Rect(0, 0, 301, 202), image.Rect(0, 0, 4, 7), image.Rect(10, 20, 110, 80)} {
		area := 0
		for n := 1; n <= 9; n++ {
			r := cellRect(b, n)
			area += r.Dx() * r.Dy()
			for m := n + 1; m <= 9; m++ {
				if r.Overlaps(cellRect(b, m)) {
					t.Errorf("%v: squares %d and %d overlap", b, n, m)
				}
			}
			if !r.In(b) {
				t.Errorf("%v: square %d %v is outside", b, n, r)
			}
		}
		if area != b.Dx()*b.Dy() {
			t.Errorf("%v: squares cover %d pixels of %d", b, area, b.Dx()*b.Dy())
		}
	}
	if r := cellRect(image.Rect(0, 0, 300, 300), 6); r != image.Rect(200, 100, 300, 200) {
		t.Errorf("square 6 = %v", r)
	}
}

// The grid view draws lines at the thirds and a number in each square, and
// changes nothing else in the middle of the squares.
func TestGridView(t *testing.T) {
	orig := noisyImage(300, 300)
	g := gridView(orig)
	if g.Bounds() != orig.Bounds() {
		t.Fatalf("bounds %v", g.Bounds())
	}
	for _, p := range []image.Point{{100, 50}, {200, 250}, {50, 100}, {250, 200}} {
		if c := g.NRGBAAt(p.X, p.Y); c != gridInk && c != gridOutline {
			t.Errorf("no grid line at %v: %v", p, c)
		}
	}
	centre := image.Rect(140, 140, 160, 160)
	if changed, _ := regionStats(orig, g, centre); changed != 0 {
		t.Errorf("the grid changed %d pixels in the middle of square 5", changed)
	}
	// Each square's number is drawn near its top left corner.
	for n := 1; n <= 9; n++ {
		r := cellRect(orig.Bounds(), n)
		corner := image.Rect(r.Min.X, r.Min.Y, r.Min.X+r.Dx()/4, r.Min.Y+r.Dy()/3)
		ink := 0
		for y := corner.Min.Y; y < corner.Max.Y; y++ {
			for x := corner.Min.X; x < corner.Max.X; x++ {
				if g.NRGBAAt(x, y) == gridInk {
					ink++
				}
			}
		}
		if ink < 20 {
			t.Errorf("square %d: no number drawn (%d ink pixels)", n, ink)
		}
	}
}

func TestParseCells(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"1 4 5", []int{1, 4, 5}, true},
		{"blur 5, 1", []int{1, 5}, true},
		{"145", []int{1, 4, 5}, true},
		{"4 4 4", []int{4}, true},
		{"१ ५", []int{1, 5}, true},
		{"none", []int{}, true},
		{"कोई नहीं", []int{}, true},
		{"all", []int{1, 2, 3, 4, 5, 6, 7, 8, 9}, true},
		{"10", nil, false},
		{"0 1", nil, false},
		{"the left one", nil, false},
		{"", nil, false},
	} {
		got, ok := parseCells(c.in)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("parseCells(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestParseStockArgs(t *testing.T) {
	known := []string{"kit", "rice 5kg"}
	for _, c := range []struct {
		in      string
		adjust  bool
		want    stockArgs
		problem string
	}{
		{`50 kit "at Okhla"`, false, stockArgs{qty: 50, item: "kit", place: "Okhla", hasPlace: true}, ""},
		{`50 kit at Okhla`, false, stockArgs{qty: 50, item: "kit", place: "Okhla", hasPlace: true}, ""},
		{`50`, false, stockArgs{qty: 50, item: "kit"}, ""},
		{`+20 “rice 5kg” at Jasola store: from the gurdwara`, false, stockArgs{qty: 20, item: "rice 5kg", place: "Jasola store", hasPlace: true, note: "from the gurdwara"}, ""},
		{`50 kit "Okhla store" Rotary club`, false, stockArgs{qty: 50, item: "kit", place: "Okhla store", hasPlace: true, note: "Rotary club"}, ""},
		{`-3 kit at Okhla: torn in the rain`, true, stockArgs{qty: -3, item: "kit", place: "Okhla", hasPlace: true, note: "torn in the rain"}, ""},
		{`-3 torn in the rain`, true, stockArgs{qty: -3, item: "kit", note: "torn in the rain"}, ""},
		{`-3 kit at Okhla`, true, stockArgs{}, "stock_adjust_reason"},
		{`0 kit: none`, true, stockArgs{}, "stock_usage"},
		{`-5 kit`, false, stockArgs{}, "stock_usage"},
		{`kit 50`, false, stockArgs{}, "stock_usage"},
		{``, false, stockArgs{}, "stock_usage"},
	} {
		got, problem := parseStockArgs(c.in, c.adjust, known)
		if problem != c.problem || problem == "" && got != c.want {
			t.Errorf("parseStockArgs(%q, %v) = %+v, %q; want %+v, %q", c.in, c.adjust, got, problem, c.want, c.problem)
		}
	}
}

// Kits come from a place the address names when it has enough, else from
// the place with the most free.
func TestPickPlace(t *testing.T) {
	free := map[string]int{"Okhla store": 5, "Jasola": 9, "Seelampur": 1}
	card := func(addr string) *store.Card { return &store.Card{Fields: map[string]string{"address": addr}} }
	for _, c := range []struct {
		addr  string
		need  int
		want  string
		found bool
	}{
		{"B-12 Sanjay Colony, near Okhla metro", 2, "Okhla store", true},
		{"B-12 Sanjay Colony, near Okhla metro", 6, "Jasola", true},
		{"Gali 4, Seelampur", 1, "Seelampur", true},
		{"Gali 4, Seelampur", 2, "Jasola", true},
		{"Noida", 10, "", false},
	} {
		got, ok := pickPlace(free, c.need, card(c.addr))
		if got != c.want || ok != c.found {
			t.Errorf("pickPlace(%q, %d) = %q, %v; want %q", c.addr, c.need, got, ok, c.want)
		}
	}
}

// BenchmarkBlurPhoto is the work of one /blur on a phone photo at the
// largest size kept (2048×1536): the grid view, and three squares blurred.
func BenchmarkBlurPhoto(b *testing.B) {
	img := noisyImage(maxPostSide, maxPostSide*3/4)
	for b.Loop() {
		gridView(img)
		blurCells(img, []int{1, 5, 9})
	}
}
