package vmx

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// encodingAliases maps the character-set names VMware products write in
// .encoding (ICU converter names such as windows-949-2000, code pages,
// Java and Microsoft aliases) to an encoding, after normalize. A nil value
// is UTF-8 (or ASCII, a subset): no decoding.
var encodingAliases = map[string]encoding.Encoding{
	"utf-8": nil, "utf8": nil, "us-ascii": nil, "ascii": nil, "ansi-x3.4-1968": nil,

	// Korean: windows-949 (Unified Hangul Code) is x/text's EUC-KR.
	"windows-949": korean.EUCKR, "euc-kr": korean.EUCKR, "ks-c-5601-1987": korean.EUCKR, "ibm-1363": korean.EUCKR,
	"uhc": korean.EUCKR,

	// Japanese.
	"windows-932": japanese.ShiftJIS, "shift-jis": japanese.ShiftJIS, "sjis": japanese.ShiftJIS, "ibm-943": japanese.ShiftJIS,
	"windows-31j": japanese.ShiftJIS, "euc-jp": japanese.EUCJP, "iso-2022-jp": japanese.ISO2022JP,

	// Chinese.
	"windows-936": simplifiedchinese.GBK, "gbk": simplifiedchinese.GBK, "gb2312": simplifiedchinese.GBK, "ibm-1386": simplifiedchinese.GBK,
	"gb18030": simplifiedchinese.GB18030, "hz-gb-2312": simplifiedchinese.HZGB2312,
	"windows-950": traditionalchinese.Big5, "big5": traditionalchinese.Big5, "big5-hkscs": traditionalchinese.Big5, "ibm-1373": traditionalchinese.Big5,

	// Western and other single-byte code pages.
	"windows-1250": charmap.Windows1250, "windows-1251": charmap.Windows1251, "windows-1252": charmap.Windows1252,
	"windows-1253": charmap.Windows1253, "windows-1254": charmap.Windows1254, "windows-1255": charmap.Windows1255,
	"windows-1256": charmap.Windows1256, "windows-1257": charmap.Windows1257, "windows-1258": charmap.Windows1258,
	"windows-874": charmap.Windows874, "ibm-5348": charmap.Windows1252, "ibm-5346": charmap.Windows1250, "ibm-5347": charmap.Windows1251,
	"iso-8859-1": charmap.ISO8859_1, "latin1": charmap.ISO8859_1, "iso-8859-15": charmap.ISO8859_15, "iso-8859-2": charmap.ISO8859_2,
	"koi8-r": charmap.KOI8R, "macintosh": charmap.Macintosh, "macroman": charmap.Macintosh, "ibm-437": charmap.CodePage437,
	"ibm-850": charmap.CodePage850,
}

// icuSuffix is the version tail of ICU converter names: windows-949-2000,
// ibm-5348_P100-1997 (normalized: -p100-1997).
var icuSuffix = regexp.MustCompile(`(-p[0-9a-z]+)?-(19|20)\d\d$`)

// normalize lower-cases a character-set name and reduces VMware's and
// Java's spellings to one: underscores become dashes; the ICU version tail
// goes; x-, ms and cp prefixes become windows- code pages (x-windows-949,
// ms949, cp949 and windows-949-2000 are all windows-949).
func normalize(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.ReplaceAll(n, "_", "-")
	n = icuSuffix.ReplaceAllString(n, "")
	n = strings.TrimPrefix(n, "x-")
	for _, p := range []string{"ms", "cp", "windows"} {
		if rest, ok := strings.CutPrefix(n, p); ok && rest != "" && strings.Trim(rest, "-0123456789") == "" {
			return "windows-" + strings.TrimLeft(rest, "-")
		}
	}
	if rest, ok := strings.CutPrefix(n, "ibm"); ok && rest != "" && strings.Trim(rest, "-0123456789") == "" {
		return "ibm-" + strings.TrimLeft(rest, "-")
	}
	return n
}

// lookupEncoding finds the encoding of a .encoding label: the alias table
// first, then the IANA and WHATWG registries. ok is false for an unknown
// label; enc is nil for UTF-8.
func lookupEncoding(label string) (enc encoding.Encoding, ok bool) {
	n := normalize(label)
	if e, found := encodingAliases[n]; found {
		return e, true
	}
	for _, try := range []string{label, n} {
		if e, err := ianaindex.IANA.Encoding(try); err == nil && e != nil {
			return e, true
		}
		if e, err := htmlindex.Get(try); err == nil {
			return e, true
		}
	}
	// A code page number alone (e.g. ".encoding = 949" after normalize).
	if strings.Trim(n, "0123456789") == "" && n != "" {
		if e, found := encodingAliases["windows-"+n]; found {
			return e, true
		}
	}
	return nil, false
}

// decode turns a VMware configuration file into UTF-8 text. label is its
// .encoding value (empty when none). An unknown label, or bytes that do
// not decode, give a warning and a fallback: UTF-8 when the bytes are
// valid UTF-8, Latin-1 (windows-1252, VMware's default for old files)
// otherwise. The result is always valid UTF-8.
func decode(label string, data []byte) (string, []string) {
	var warns []string
	if label != "" {
		enc, ok := lookupEncoding(label)
		switch {
		case !ok:
			warns = append(warns, ".encoding "+quote(label)+": unknown character set; read as "+fallbackName(data))
		case enc != nil:
			out, err := enc.NewDecoder().Bytes(data)
			if err == nil && utf8.Valid(out) {
				return string(out), nil
			}
			warns = append(warns, ".encoding "+quote(label)+": the bytes do not decode; read as "+fallbackName(data))
		}
	}
	if utf8.Valid(data) {
		return string(data), warns
	}
	out, _ := charmap.Windows1252.NewDecoder().Bytes(data)
	return strings.ToValidUTF8(string(out), "\uFFFD"), warns
}

func fallbackName(data []byte) string {
	if utf8.Valid(data) {
		return "UTF-8"
	}
	return "Latin-1 (windows-1252)"
}

func quote(s string) string {
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}
