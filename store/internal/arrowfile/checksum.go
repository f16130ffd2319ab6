package arrowfile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/endian"
)

// KeyChecksum is the custom metadata key of a record batch's message that
// holds the checksum of the batch's values, "crc32c:" and eight lowercase
// hexadecimal digits. Every record batch latentda writes carries one
// ([NewRecord]); readers verify it ([ReadTable]). It lives in the record
// batch messages, not in the schema, so that a batch file can be written
// one record batch at a time, and so that builds that do not know it read
// the files as before (they ignore record batch metadata). See
// docs/state-format.md, "Checksums".
const KeyChecksum = "latentda.checksum"

const checksumPrefix = "crc32c:"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C (Castagnoli) of the values of cols, a
// record batch's columns in schema order. Each column contributes its
// values, row after row:
//
//   - int32, int64, float32, float64: the value's little-endian bytes (the
//     IEEE-754 bits of a float, whatever it holds);
//   - boolean: one byte, 1 for true and 0 for false;
//   - utf8: the length in bytes as a little-endian uint32, then the bytes;
//   - fixed_size_list<T>[n]: the n elements, each as a T;
//   - list<T>: the number of elements as a little-endian uint32, then the
//     elements, each as a T.
//
// Validity bitmaps and padding are not included: state files hold no
// nulls (readers reject them first). Any other type is an error.
func Checksum(cols []arrow.Array) (uint32, error) {
	var c checksum
	for i, col := range cols {
		if err := c.values(col, 0, col.Len()); err != nil {
			return 0, fmt.Errorf("checksum of column %d: %w", i, err)
		}
	}
	c.flush()
	return c.crc, nil
}

// checksum accumulates a CRC-32C, buffering small pieces.
type checksum struct {
	crc uint32
	buf []byte
}

func (c *checksum) flush() {
	c.crc = crc32.Update(c.crc, castagnoli, c.buf)
	c.buf = c.buf[:0]
}

func (c *checksum) maybeFlush() {
	if len(c.buf) >= 1<<12 {
		c.flush()
	}
}

// values adds the values [from, to) of a (indices relative to a).
func (c *checksum) values(a arrow.Array, from, to int) error {
	if from == to {
		return nil // an empty array may have no buffers
	}
	switch a := a.(type) {
	case *array.Boolean:
		for i := from; i < to; i++ {
			b := byte(0)
			if a.Value(i) {
				b = 1
			}
			c.buf = append(c.buf, b)
			c.maybeFlush()
		}
	case *array.String:
		for i := from; i < to; i++ {
			s := a.Value(i)
			c.buf = append(binary.LittleEndian.AppendUint32(c.buf, uint32(len(s))), s...)
			c.maybeFlush()
		}
	case *array.FixedSizeList:
		// ValueOffsets counts the list's own offset in, giving indices
		// into the values array.
		start, _ := a.ValueOffsets(from)
		_, end := a.ValueOffsets(to - 1)
		return c.values(a.ListValues(), int(start), int(end))
	case *array.List:
		for i := from; i < to; i++ {
			start, end := a.ValueOffsets(i)
			c.buf = binary.LittleEndian.AppendUint32(c.buf, uint32(end-start))
			if err := c.values(a.ListValues(), int(start), int(end)); err != nil {
				return err
			}
		}
	case *array.Int32, *array.Int64, *array.Float32, *array.Float64:
		w := a.DataType().(arrow.FixedWidthDataType).BitWidth() / 8
		off := a.Data().Offset()
		b := a.Data().Buffers()[1].Bytes()[(off+from)*w : (off+to)*w]
		if endian.IsBigEndian { // arrow-go holds values in the host's byte order
			for i := 0; i < len(b); i += w {
				for j := i + w - 1; j >= i; j-- {
					c.buf = append(c.buf, b[j])
				}
				c.maybeFlush()
			}
			return nil
		}
		c.flush()
		c.crc = crc32.Update(c.crc, castagnoli, b)
	default:
		return fmt.Errorf("type %s has no checksum", a.DataType())
	}
	return nil
}

// FormatChecksum formats a checksum as the value of [KeyChecksum].
func FormatChecksum(sum uint32) string { return fmt.Sprintf("%s%08x", checksumPrefix, sum) }

// parseChecksum parses a value of KeyChecksum.
func parseChecksum(v string) (uint32, bool) {
	hex, ok := strings.CutPrefix(v, checksumPrefix)
	if !ok || len(hex) != 8 || strings.ToLower(hex) != hex {
		return 0, false
	}
	sum, err := strconv.ParseUint(hex, 16, 32)
	return uint32(sum), err == nil
}

// NewRecord makes a record batch of cols, nrows rows, carrying the
// checksum of their values under [KeyChecksum]. Every writer builds its
// record batches with it.
func NewRecord(schema *arrow.Schema, cols []arrow.Array, nrows int) (arrow.RecordBatch, error) {
	sum, err := Checksum(cols)
	if err != nil {
		return nil, err
	}
	md := arrow.NewMetadata([]string{KeyChecksum}, []string{FormatChecksum(sum)})
	return array.NewRecordBatchWithMetadata(schema, cols, int64(nrows), md), nil
}

// storedChecksum returns the checksum record batch i of a file carries,
// if any. Other keys in the "latentda." namespace are rejected, as in the
// schema's metadata; keys outside it are ignored.
func storedChecksum(rec arrow.RecordBatch, i int) (sum uint32, found bool, err error) {
	rm, ok := rec.(arrow.RecordBatchWithMetadata)
	if !ok {
		return 0, false, nil
	}
	md := rm.Metadata()
	for j, k := range md.Keys() {
		if !strings.HasPrefix(k, KeyPrefix) {
			continue
		}
		if k != KeyChecksum {
			return 0, false, Invalidf("record batch %d: unknown metadata key %q", i, k)
		}
		if found {
			return 0, false, Invalidf("record batch %d: metadata key %q appears more than once", i, k)
		}
		v := md.Values()[j]
		if sum, ok = parseChecksum(v); !ok {
			return 0, false, Invalidf("record batch %d: metadata %s = %q is not %s and 8 lowercase hex digits", i, k, v, checksumPrefix)
		}
		found = true
	}
	return sum, found, nil
}

// verifyChecksums checks the checksum of each record batch of t. A file
// written by latentda has one in every record batch; a file without any
// (an older run, or one rewritten by another Arrow implementation) is read
// unverified; a file with some is invalid.
func verifyChecksums(t *Table) error {
	withSum := -1
	for i, rec := range t.Recs {
		want, found, err := storedChecksum(rec, i)
		if err != nil {
			return err
		}
		if !found {
			if withSum >= 0 {
				return Invalidf("record batch %d has no checksum, but record batch %d has one", i, withSum)
			}
			continue
		}
		if withSum < 0 && i > 0 {
			return Invalidf("record batch %d has a checksum, but record batch 0 has none", i)
		}
		withSum = i
		got, err := Checksum(rec.Columns())
		if err != nil {
			return &InvalidError{Err: err}
		}
		if got != want {
			return Invalidf("record batch %d: checksum mismatch: stored %s, computed %s: the file is corrupt", i, FormatChecksum(want), FormatChecksum(got))
		}
	}
	return nil
}
