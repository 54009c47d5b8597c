/// A few SVG elements written as text, attributes escaped. pvmh has no XML
/// library (Glibc only); what it writes is small and fixed in shape.
struct SVGWriter {
    private var out: String

    init(width: Double, height: Double) {
        out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Self.number(width))" height="\(Self.number(height))" \
        viewBox="0 0 \(Self.number(width)) \(Self.number(height))" font-family="DejaVu Sans, Verdana, Arial, sans-serif">

        """
        out += "<rect x=\"0\" y=\"0\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" fill=\"#ffffff\"/>\n"
    }

    mutating func open(_ name: String, _ attributes: [(String, String)]) {
        out += "<\(name)\(Self.attributes(attributes))>\n"
    }

    mutating func close(_ name: String) {
        out += "</\(name)>\n"
    }

    mutating func text(_ text: String, x: Double, y: Double, size: Double, weight: String = "normal", anchor: String = "start",
                       fill: String = "#222222", family: String? = nil, transform: String? = nil, title: String? = nil) {
        var attributes: [(String, String)] = [("x", Self.number(x)), ("y", Self.number(y)), ("font-size", Self.number(size))]
        if weight != "normal" { attributes.append(("font-weight", weight)) }
        if anchor != "start" { attributes.append(("text-anchor", anchor)) }
        attributes.append(("fill", fill))
        if let family { attributes.append(("font-family", family)) }
        if let transform { attributes.append(("transform", transform)) }
        let titled = title.map { "<title>\(Self.escape($0))</title>" } ?? ""
        out += "<text\(Self.attributes(attributes))>\(titled)\(Self.escape(text))</text>\n"
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, data: [(String, String)],
                       title: String?, stroke: String? = nil) {
        var attributes: [(String, String)] = [("x", Self.number(x)), ("y", Self.number(y)), ("width", Self.number(width)),
                                              ("height", Self.number(height)), ("fill", fill)]
        if let stroke { attributes.append(("stroke", stroke)) }
        attributes += data.map { ("data-\($0.0)", $0.1) }
        if let title {
            out += "<rect\(Self.attributes(attributes))><title>\(Self.escape(title))</title></rect>\n"
        } else {
            out += "<rect\(Self.attributes(attributes))/>\n"
        }
    }

    mutating func rectOutline(x: Double, y: Double, width: Double, height: Double) {
        out += "<rect\(Self.attributes([("x", Self.number(x)), ("y", Self.number(y)), ("width", Self.number(width)), ("height", Self.number(height)), ("fill", "none"), ("stroke", "#333333")]))/>\n"
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double, opacity: Double, dash: String? = nil) {
        var attributes: [(String, String)] = [("x1", Self.number(x1)), ("y1", Self.number(y1)), ("x2", Self.number(x2)),
                                              ("y2", Self.number(y2)), ("stroke", stroke), ("stroke-width", Self.number(width))]
        if opacity < 1 { attributes.append(("stroke-opacity", Self.number(opacity))) }
        if let dash { attributes.append(("stroke-dasharray", dash)) }
        out += "<line\(Self.attributes(attributes))/>\n"
    }

    func finish() -> String { out + "</svg>\n" }

    static func attributes(_ list: [(String, String)]) -> String {
        list.map { " \($0.0)=\"\(escape($0.1))\"" }.joined()
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 has no place for other control characters.
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" { out += " " } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    /// `value` with at most `digits` decimals and no trailing zeros ("12.5", "3").
    static func number(_ value: Double, digits: Int = 2) -> String {
        guard value.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return String(Int64(value)) }
        let whole = UInt64(scaled) / UInt64(scale), fraction = UInt64(scaled) % UInt64(scale)
        var text = (value < 0 && scaled > 0 ? "-" : "") + String(whole)
        if fraction > 0 {
            var decimals = String(fraction)
            decimals = String(repeating: "0", count: digits - decimals.count) + decimals
            while decimals.hasSuffix("0") { decimals.removeLast() }
            text += "." + decimals
        }
        return text
    }
}
