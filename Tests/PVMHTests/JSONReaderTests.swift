import Testing

/// The end-to-end tests trust JSON.parse to reject what is not JSON.
@Suite("test support: JSON reader")
struct JSONReaderTests {
    @Test("valid documents parse", arguments: [
        #"{}"#, #"[]"#, #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#, #" -0.5e+3 "#,
        #""\u00e9\ud83d\ude00\n\"""#, #"{"t_ns":18446744073709551615}"#,
    ])
    func valid(_ text: String) {
        #expect(throws: Never.self) { try JSON.parse(text) }
    }

    @Test("invalid documents are rejected", arguments: [
        "", "{", #"{"a":}"#, #"{"a":1,}"#, "[1,]", "01", "1.", "tru", #"{"a" 1}"#, #""unterminated"#,
        "{} {}", #"{'a':1}"#, "\"tab\there\"", "NaN", #""\ud800""#,
    ])
    func invalid(_ text: String) {
        #expect(throws: JSON.ParseError.self) { try JSON.parse(text) }
    }

    @Test("object keys keep their order; numbers keep their digits")
    func order() throws {
        let value = try JSON.parse(#"{"z":1,"a":{"y":2,"b":3},"t":18446744073709551615}"#)
        #expect(value.fields?.map(\.0) == ["z", "a", "t"])
        #expect(value["a"]?.fields?.map(\.0) == ["y", "b"])
        #expect(value["t"] == .number("18446744073709551615"))
        #expect(value["z"]?.int64 == 1)
        #expect(try JSON.parse(#""\u00e9\ud83d\ude00""#).string == "é😀")
    }
}
