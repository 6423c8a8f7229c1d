package edge

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// flagsView is the body of GET /flags and PUT /flags: each flag's rollout in
// percent, and who set them.
type flagsView struct {
	Rollout map[string]float64 `json:"rollout_percent"`
	SetBy   string             `json:"set_by"`
	Note    string             `json:"note,omitempty"`
}

func (s *Server) flagsView(note string) flagsView {
	fs := s.flags.Load()
	v := flagsView{Rollout: map[string]float64{}, SetBy: fs.set, Note: note}
	for f := range flagCount {
		v.Rollout[flagNames[f]] = float64(fs.rollout[f]) * 100 / rolloutScale
	}
	return v
}

// getFlags answers GET /flags.
func (s *Server) getFlags(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.flagsView(""))
}

// putFlags answers PUT /flags with a JSON object of rollouts in percent,
// e.g. {"jxl": 5}: the flags named change at once on this node (the others
// keep theirs) until the next reload, which goes back to the config. A
// revert is {"jxl": 0}: the variants made before the flag are still keyed
// as they were, so they are served again without a render.
func (s *Server) putFlags(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Admin.Token == "" {
		http.Error(w, "PUT /flags needs admin.token configured (and sent as Authorization: Bearer <token>)", http.StatusForbidden)
		return
	}
	var want map[string]float64
	body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err == nil {
		err = json.Unmarshal(body, &want)
	}
	if err != nil || len(want) == 0 {
		http.Error(w, `give a JSON object of rollouts in percent, e.g. {"jxl": 5, "avif": 100}`, http.StatusBadRequest)
		return
	}
	next := *s.flags.Load()
	next.set = "admin"
	for name, pct := range want {
		f := flagByName(name)
		if f < 0 || !(pct >= 0 && pct <= 100) {
			http.Error(w, fmt.Sprintf("flag %q = %v: flags are jxl, avif and qualities, each a percentage from 0 to 100", name, pct), http.StatusBadRequest)
			return
		}
		next.rollout[f] = percentToBuckets(pct)
	}
	s.flags.Store(&next)
	s.resolved.clear()
	s.log.Info("flags set by PUT /flags", "rollout", want)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.flagsView("this node only, until the next reload (SIGHUP) or restart: put it in the config to keep it"))
}

func flagByName(name string) flagID {
	for f := range flagCount {
		if flagNames[f] == name {
			return f
		}
	}
	return -1
}
