package fakeapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Control endpoints, for a test that drives a fake running in another
// process (a standalone fake server used by crash tests). They live under
// /_fake/, which no Bot API path uses, and take and return JSON:
//
//	POST /_fake/say      {"chat_id":42,"text":"hi"}                      → {"update_id":…}
//	POST /_fake/press    {"chat_id":42,"message_id":7,"data":"yes"}       → {"update_id":…}
//	POST /_fake/press    {"chat_id":42,"label":"Yes"}                     → {"update_id":…}
//	POST /_fake/contact  {"chat_id":42,"phone":"919812345678"}            → {"update_id":…}
//	POST /_fake/location {"chat_id":42,"lat":28.6,"lon":77.2}             → {"update_id":…}
//	POST /_fake/update   a raw update (update_id is replaced)             → {"update_id":…}
//	POST /_fake/fail     {"method":"sendMessage","n":1,"code":429,"retry_after":3,
//	                      "description":"…","delay_ms":0,"drop":false}
//	POST /_fake/block    {"chat_id":42}     POST /_fake/unblock {"chat_id":42}
//	GET  /_fake/sent     → [Sent, …]
//	GET  /_fake/stats    → {"sent":…,"duplicates":…,"rate_limited":…,"too_many_requests":…,
//	                        "pending":…,"confirmed":…,"delivered":…}

type controlRequest struct {
	ChatID      int64   `json:"chat_id"`
	Text        string  `json:"text"`
	MessageID   int     `json:"message_id"`
	Data        string  `json:"data"`
	Label       string  `json:"label"`
	Phone       string  `json:"phone"`
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	Method      string  `json:"method"`
	N           int     `json:"n"`
	Code        int     `json:"code"`
	Description string  `json:"description"`
	RetryAfter  int     `json:"retry_after"`
	DelayMS     int     `json:"delay_ms"`
	Drop        bool    `json:"drop"`
}

// Stats is the answer of GET /_fake/stats.
type Stats struct {
	Sent            int   `json:"sent"`
	Duplicates      int   `json:"duplicates"`
	RateLimited     int   `json:"rate_limited"`
	TooManyRequests int   `json:"too_many_requests"`
	Pending         int   `json:"pending"`
	Confirmed       int64 `json:"confirmed"`
	Delivered       int   `json:"delivered"`
}

// Stats sums up what happened so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Sent: len(s.sent), Duplicates: s.dups, RateLimited: s.limited, TooManyRequests: s.injected429,
		Pending: len(s.pending), Confirmed: s.confirmed, Delivered: s.delivered,
	}
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	what := strings.TrimPrefix(r.URL.Path, "/_fake/")
	if r.Method == http.MethodGet {
		switch what {
		case "sent":
			writeJSON(w, 200, s.Sent())
		case "stats":
			writeJSON(w, 200, s.Stats())
		default:
			http.NotFound(w, r)
		}
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if what == "update" {
		id, err := s.PushJSON(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, 200, map[string]int64{"update_id": id})
		return
	}
	var c controlRequest
	if err := json.Unmarshal(body, &c); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var id int64
	switch what {
	case "say":
		id = s.SayText(c.ChatID, c.Text)
	case "press":
		if c.Label != "" {
			if id, err = s.PressLabel(c.ChatID, c.Label); err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
		} else {
			id = s.Press(c.ChatID, c.MessageID, c.Data)
		}
	case "contact":
		id = s.Contact(c.ChatID, c.Phone)
	case "location":
		id = s.Location(c.ChatID, c.Lat, c.Lon)
	case "fail":
		s.FailNext(c.Method, max(c.N, 1), Failure{
			Code: c.Code, Description: c.Description, RetryAfter: c.RetryAfter,
			Delay: time.Duration(c.DelayMS) * time.Millisecond, Drop: c.Drop,
		})
	case "block":
		s.Block(c.ChatID)
	case "unblock":
		s.Unblock(c.ChatID)
	default:
		http.NotFound(w, r)
		return
	}
	writeJSON(w, 200, map[string]int64{"update_id": id})
}
