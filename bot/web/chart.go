package web

import (
	"fmt"
	"strconv"
	"time"
)

// chart is a bar chart drawn by the template as inline SVG: every length is
// computed here, so the page needs neither script nor inline style.
type chart struct {
	ID, Title    string
	W, H         int
	Base, LabelY string // the axis and the day labels
	Bars         []bar
	Total        string
}

type bar struct {
	X, Y, W, H string
	CX, VY     string // the value label's position
	Value      string // shown above a bar that is not zero
	Label      string // the day of the month, under some bars
	Tip        string // the hover title: date and value
}

// Chart geometry, in SVG units: the chart scales to its container.
const (
	chartW      = 420
	chartH      = 150
	chartTop    = 16 // room for the value over the highest bar
	chartBottom = 18 // room for the day labels
)

func barChart(id, title, unit string, days []time.Time, values []float64, format func(float64) string) chart {
	c := chart{ID: id, Title: title, W: chartW, H: chartH, Base: px(chartH - chartBottom), LabelY: px(chartH - 4)}
	peak, total := 0.0, 0.0
	for _, v := range values {
		peak = max(peak, v)
		total += v
	}
	c.Total = format(total)
	slot := float64(chartW) / float64(len(values))
	height := float64(chartH - chartTop - chartBottom)
	for i, v := range values {
		h := 0.0
		if peak > 0 {
			h = v / peak * height
		}
		if v > 0 && h < 1 {
			h = 1 // a small number is still seen
		}
		x := float64(i)*slot + slot*0.15
		b := bar{X: px(x), W: px(slot * 0.7), Y: px(float64(chartH-chartBottom) - h), H: px(h), CX: px(x + slot*0.35),
			VY: px(float64(chartH-chartBottom) - h - 3), Tip: days[i].Format("Mon 2 Jan") + ": " + format(v) + " " + unit}
		if v > 0 {
			b.Value = format(v)
		}
		// Label every other day, counting back from today, so today is labelled.
		if (len(values)-1-i)%2 == 0 {
			b.Label = strconv.Itoa(days[i].Day())
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}

func px(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func formatCount(v float64) string { return strconv.Itoa(int(v)) }

// formatRupees writes whole rupees, shortened above a thousand: 1.2k, 3.4L.
func formatRupees(v float64) string {
	switch {
	case v >= 100000:
		return fmt.Sprintf("%.1fL", v/100000)
	case v >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	default:
		return strconv.Itoa(int(v + 0.5))
	}
}
