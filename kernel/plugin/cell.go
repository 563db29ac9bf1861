package plugin

import (
	"errors"
	"fmt"
	"strings"
)

// Cell is a cell's first line parsed as `%%name args…`.
type Cell struct {
	Name string
	Args []string
	Body string
}

// ParseCell recognises a plugin cell. ok is false for cells that are not of
// the form `%%name …` with a name (plain Go, `%%` and `%% -flags`, and any
// line not starting with %%). err reports bad quoting in the arguments.
func ParseCell(source string) (cell Cell, ok bool, err error) {
	first, body, _ := strings.Cut(source, "\n")
	first = strings.TrimRight(first, "\r")
	if !strings.HasPrefix(first, "%%") {
		return Cell{}, false, nil
	}
	rest := first[2:]
	name := rest
	if i := strings.IndexAny(rest, " \t"); i >= 0 {
		name = rest[:i]
	}
	if name == "" || strings.HasPrefix(name, "-") {
		return Cell{}, false, nil
	}
	args, err := SplitArgs(rest[len(name):])
	if err != nil {
		return Cell{Name: name}, true, fmt.Errorf("%%%%%s: %w", name, err)
	}
	return Cell{Name: name, Args: args, Body: body}, true, nil
}

// SplitArgs splits a line into arguments the way a POSIX shell would, without
// expansions: whitespace separates, '…' is literal, "…" allows \" \\ \$ \`
// escapes, and a backslash outside quotes escapes the next character.
func SplitArgs(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg := false
	const (
		none = iota
		single
		double
	)
	quote := none
	runes := []rune(line)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch quote {
		case single:
			if r == '\'' {
				quote = none
			} else {
				cur.WriteRune(r)
			}
			continue
		case double:
			switch {
			case r == '"':
				quote = none
			case r == '\\' && i+1 < len(runes) && strings.ContainsRune(`"\$`+"`", runes[i+1]):
				i++
				cur.WriteRune(runes[i])
			default:
				cur.WriteRune(r)
			}
			continue
		}
		switch {
		case r == ' ' || r == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case r == '\'':
			quote, inArg = single, true
		case r == '"':
			quote, inArg = double, true
		case r == '\\':
			if i+1 >= len(runes) {
				return nil, errors.New("trailing backslash in arguments")
			}
			i++
			cur.WriteRune(runes[i])
			inArg = true
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != none {
		return nil, errors.New("unterminated quote in arguments")
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
