import Testing
@testable import GuestImage

@Suite("Base64 decoding of the generated images")
struct Base64Tests {
    // RFC 4648, section 10.
    @Test(arguments: [
        ("", ""), ("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYg==", "foob"),
        ("Zm9vYmE=", "fooba"), ("Zm9vYmFy", "foobar"),
    ])
    func rfc4648Vectors(encoded: String, decoded: String) {
        #expect(Base64.decode(encoded) == Array(decoded.utf8))
    }

    @Test("all 64 symbols and every byte value round-trip")
    func allSymbols() {
        // Bytes 0...255 use every one of the 64 symbols.
        let text = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZH"
            + "SElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6P"
            + "kJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX"
            + "2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w=="
        #expect(Base64.decode(text) == Array(0...255))
    }

    @Test("whitespace from a multi-line literal is skipped")
    func whitespace() {
        #expect(Base64.decode("  Zm9v\n        YmFy\r\n\t") == Array("foobar".utf8))
    }

    @Test(arguments: ["Zm9", "Z===", "Zm=v", "Zg==Zg==", "Zm9v!", "Zg=", "====", "Zm9vYg==\nZ"])
    func rejectsMalformed(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
