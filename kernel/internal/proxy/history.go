package proxy

import (
	"regexp"
	"strings"
	"sync"

	"github.com/gorepro/gorepro/kernel/internal/wire"
)

// history is the input of the cells this kernel ran and stored, numbered by
// their execution counts, for history_request: GoNB keeps none. It is safe
// for concurrent use.
type history struct {
	mu      sync.Mutex
	entries []historyEntry
}

// historyEntry is one stored cell.
type historyEntry struct {
	session string
	line    int
	input   string
}

// add stores a cell's input under its execution count.
func (h *history) add(session string, line int, input string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entries = append(h.entries, historyEntry{session: session, line: line, input: input})
}

// len is the number of stored cells.
func (h *history) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

func (h *history) snapshot() []historyEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]historyEntry{}, h.entries...)
}

// tail returns the last n entries; every entry when n ≤ 0.
func (h *history) tail(n int) []historyEntry {
	entries := h.snapshot()
	if n > 0 && len(entries) > n {
		entries = entries[len(entries)-n:]
	}
	return entries
}

// lines returns the entries numbered start ≤ line < stop; stop ≤ 0 is no
// upper bound.
func (h *history) lines(start, stop int) []historyEntry {
	var selected []historyEntry
	for _, e := range h.snapshot() {
		if e.line >= start && (stop <= 0 || e.line < stop) {
			selected = append(selected, e)
		}
	}
	return selected
}

// search returns the entries whose input matches pattern (see globMatch),
// oldest first: the last n of them when n > 0, and with unique only the
// latest of equal inputs.
func (h *history) search(pattern string, n int, unique bool) []historyEntry {
	entries := h.snapshot()
	var selected []historyEntry
	seen := map[string]bool{}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if !globMatch(pattern, e.input) {
			continue
		}
		if unique && seen[e.input] {
			continue
		}
		seen[e.input] = true
		selected = append([]historyEntry{e}, selected...)
		if n > 0 && len(selected) >= n {
			break
		}
	}
	return selected
}

// historyReply answers tail, range and search requests from this kernel's cells.
func (p *Proxy) historyReply(msg *wire.Message) map[string]any {
	var c struct {
		Output         bool   `json:"output"`
		Raw            bool   `json:"raw"`
		HistAccessType string `json:"hist_access_type"`
		Session        int    `json:"session"`
		Start          int    `json:"start"`
		Stop           int    `json:"stop"`
		N              int    `json:"n"`
		Pattern        string `json:"pattern"`
		Unique         bool   `json:"unique"`
	}
	_ = msg.DecodeContent(&c)
	var selected []historyEntry
	switch c.HistAccessType {
	case "range":
		selected = p.history.lines(c.Start, c.Stop)
	case "search":
		selected = p.history.search(c.Pattern, c.N, c.Unique)
	default: // "tail"
		selected = p.history.tail(c.N)
	}
	history := make([]any, 0, len(selected))
	for _, e := range selected {
		if c.Output {
			history = append(history, []any{0, e.line, []any{e.input, nil}})
		} else {
			history = append(history, []any{0, e.line, e.input})
		}
	}
	return map[string]any{"status": "ok", "history": history}
}

// globMatch matches IPython-style history patterns: * is any text (slashes
// and newlines included), ? any one character; an empty pattern matches all.
func globMatch(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	var re strings.Builder
	re.WriteString("(?s)^")
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	ok, err := regexp.MatchString(re.String(), s)
	return err == nil && ok
}
