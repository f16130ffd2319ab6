package ipcverify

// fbHeaderSchema is MessageHeader.Schema in Arrow's Message.fbs.
const fbHeaderSchema = 1

// StreamSchema checks the metadata of the schema message that starts an
// Arrow IPC stream (the flatbuffer Message after the continuation marker
// and length) as Footer and File.Columns check a file's schema: a Message
// whose header is a little-endian Schema of the supported column types,
// without dictionaries.
func StreamSchema(meta []byte) error {
	// Message { version: short; header_type: ubyte; header: union;
	// bodyLength: long; custom_metadata: [KeyValue] }
	msg, err := fbuf(meta).root("message")
	if err != nil {
		return err
	}
	if _, err := msg.int16(4, "version"); err != nil {
		return err
	}
	if _, err := msg.int64(10, "bodyLength"); err != nil {
		return err
	}
	if _, err := msg.keyValues(12); err != nil {
		return err
	}
	if h, err := msg.uint8(6, "header_type"); err != nil {
		return err
	} else if h != fbHeaderSchema {
		return invalidf("the stream does not start with a schema message (header type %d)", h)
	}
	schema, ok, err := msg.sub(8, "header")
	if err != nil {
		return err
	}
	if !ok {
		return corruptf("schema message without a schema")
	}
	if e, err := schema.int16(4, "endianness"); err != nil {
		return err
	} else if e != 0 {
		return invalidf("big-endian Arrow streams are not supported")
	}
	if _, err := schema.keyValues(8); err != nil {
		return err
	}
	_, err = schemaColumns(schema)
	return err
}
