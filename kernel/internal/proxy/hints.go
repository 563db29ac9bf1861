package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/gorepro/gorepro/kernel/internal/wire"
)

// missingModule matches the go command's errors for an import that no module
// of the workspace provides, or one that only an indirect requirement does
// (then it names the version the workspace already has).
var missingModule = regexp.MustCompile(`no required module provides package ([^\s;:"]+)|imports ([^\s"]+) from implicitly required module; to add missing requirements, run:(?:\s|<[^>]*>)+go get ([^\s"@]+)@([^\s"<]+)`)

// hintMissingModules adds, after GoNB's compile error for a cell that imports
// a package outside the project's modules, one line naming the package and
// the way to add its module: cells never fetch modules (auto-get is off).
func (p *Proxy) hintMissingModules(msg *wire.Message) {
	if !bytes.Contains(msg.Content, []byte("required module")) {
		return
	}
	var content any
	if err := json.Unmarshal(msg.Content, &content); err != nil {
		return
	}
	var hints []string
	p.mu.Lock()
	hinted := p.hinted[msg.ParentID()]
	if hinted == nil {
		hinted = map[string]bool{}
		p.hinted[msg.ParentID()] = hinted
	}
	forEachString(content, func(s string) {
		for _, m := range missingModule.FindAllStringSubmatch(s, -1) {
			var key, hint string
			if m[1] != "" {
				key = m[1]
				hint = fmt.Sprintf("gorepro: package %s is in no module this project requires, and cells never fetch modules: "+
					"add its module at an exact version with a cell `%%%%require MODULE@vX.Y.Z` (see `%%%%help require`), then run this cell again", m[1])
			} else {
				key = m[3]
				hint = fmt.Sprintf("gorepro: package %s comes from %s, which the project requires only indirectly: "+
					"add it with a cell `%%%%require %s@%s` (the version the project already uses), then run this cell again", m[2], m[3], m[3], m[4])
			}
			if !hinted[key] {
				hinted[key] = true
				hints = append(hints, hint)
			}
		}
	})
	p.mu.Unlock()
	for _, h := range hints {
		out, err := wire.Sibling(msg, "stream", map[string]any{"name": "stderr", "text": h + "\n"})
		if err != nil {
			p.log.Error("building a missing-module hint", "err", err)
			continue
		}
		out.Identities = [][]byte{[]byte("stream")}
		if err := p.iopub.send(out.Frames(p.key)); err != nil {
			p.log.Error("publishing a missing-module hint", "err", err)
		}
	}
}

// forEachString calls fn on every string inside a decoded JSON value.
func forEachString(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			forEachString(e, fn)
		}
	case map[string]any:
		for _, e := range v {
			forEachString(e, fn)
		}
	}
}
