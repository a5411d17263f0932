import Foundation
import Testing

@testable import AMCCommand

/// The configuration layer on its own: flag, environment and file layers in precedence order, strict types and
/// bounds, secret values never shown, and the file's own errors.
@Suite struct ConfigurationLayerTests {
    @Test func flagBeatsEnvironmentBeatsFile() throws {
        let file = try configFile(#"{"serve": {"port": 1, "host": "file-host"}, "ingest": {"group": "file-group"}}"#)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        var flags = FlagValues()
        flags.set("serve.port", 3, flag: "--port")
        let values = ConfigValues(
            flags: flags,
            environment: ["AMC_SERVE_PORT": "2", "AMC_SERVE_HOST": "env-host"],
            file: file
        )
        #expect(try values.int(forKey: "serve.port") == 3)
        #expect(try values.string(forKey: "serve.host") == "env-host")
        #expect(try values.string(forKey: "ingest.group") == "file-group")
        #expect(try values.string(forKey: "ingest.topic") == nil)
        #expect(try values.string(forKey: "ingest.topic", default: "clicks") == "clicks")
    }

    @Test func anEmptyEnvironmentVariableIsUnset() throws {
        let values = ConfigValues(flags: FlagValues(), environment: ["AMC_SERVE_HOST": ""], file: nil)
        #expect(try values.string(forKey: "serve.host", default: "127.0.0.1") == "127.0.0.1")
    }

    @Test func environmentVariableNames() {
        #expect(ConfigValues.environmentVariable(for: "serve.max-body-bytes") == "AMC_SERVE_MAX_BODY_BYTES")
        #expect(ConfigValues.environmentVariable(for: "ingest.batch.maxRecords") == "AMC_INGEST_BATCH_MAXRECORDS")
    }

    @Test func aValueOfTheWrongTypeOrOutOfBoundsNamesKeyLayerAndValue() throws {
        let file = try configFile(#"{"serve": {"port": "8080"}}"#)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        let fromFile = ConfigValues(flags: FlagValues(), environment: [:], file: file)
        let typeError = try #require(throws: ConfigValueError.self) { try fromFile.int(forKey: "serve.port") }
        #expect("\(typeError)" == "serve.port (config file \(file.path)) must be an integer, got the string \"8080\"")

        var flags = FlagValues()
        flags.set("serve.port", -1, flag: "--port")
        let fromFlag = ConfigValues(flags: flags, environment: ["AMC_SERVE_PORT": "80"], file: nil)
        let boundsError = try #require(throws: ConfigValueError.self) {
            try fromFlag.int(forKey: "serve.port", default: 8080, bounds: .port)
        }
        #expect("\(boundsError)" == "serve.port (--port) must be in 0...65535, got -1")

        let fromEnvironment = ConfigValues(flags: FlagValues(), environment: ["AMC_LEARN_ACTIVATE": "maybe"], file: nil)
        let boolError = try #require(throws: ConfigValueError.self) {
            try fromEnvironment.bool(forKey: "learn.activate", default: true)
        }
        #expect(
            "\(boolError)" == "learn.activate (environment AMC_LEARN_ACTIVATE) must be true or false, got \"maybe\""
        )
    }

    @Test func aSecretValueIsNeverShown() throws {
        let values = ConfigValues(
            flags: FlagValues(),
            environment: ["AMC_DATABASE_URL": "postgresql://u:hunter2@h/db"],
            file: nil
        )
        let error = try #require(throws: ConfigValueError.self) {
            try values.int(forKey: "database.url")
        }
        #expect(!"\(error)".contains("hunter2"))
        #expect("\(error)" == "database.url (environment AMC_DATABASE_URL) must be an integer")
    }

    @Test func flagValuesDescribeThemselvesByKeysOnly() {
        var flags = FlagValues()
        flags.set("database.url", "postgresql://u:hunter2@h/db", flag: "--database-url")
        flags.set("serve.port", 8080, flag: "--port")
        flags.set("ingest.topic", [String](), flag: "--topic")
        flags.set("learn.seed", nil as Int?, flag: "--seed")
        #expect("\(flags)" == "FlagValues(keys: [\"database.url\", \"serve.port\"])")
        #expect(String(reflecting: flags) == "\(flags)")
        #expect(flags.value(forKey: "learn.seed") == nil)
        #expect(flags.value(forKey: "serve.port")?.flag == "--port")
    }

    @Test func configFileErrorsNameTheFile() throws {
        let missing = "/nonexistent/amc-\(UUID().uuidString).json"
        let notFound = try #require(throws: (any Error).self) { try ConfigFile(path: missing) }
        #expect("\(notFound)" == "config file \(missing) does not exist")

        let array = try configFile("[1, 2]", keep: true)
        defer { try? FileManager.default.removeItem(atPath: array.path) }
        let notObject = try #require(throws: (any Error).self) { try ConfigFile(path: array.path) }
        #expect("\(notObject)".hasPrefix("config file \(array.path) must hold a JSON object"))

        let broken = try configFile("{\n  \"serve\": {,\n}", keep: true)
        defer { try? FileManager.default.removeItem(atPath: broken.path) }
        let invalid = try #require(throws: (any Error).self) { try ConfigFile(path: broken.path) }
        #expect("\(invalid)".hasPrefix("config file \(broken.path) is not valid JSON"))
    }

    @Test func configFileDottedKeysAndNull() throws {
        let file = try configFile(#"{"a": {"b": {"c": 5}}, "n": null}"#)
        defer { try? FileManager.default.removeItem(atPath: file.path) }
        let values = ConfigValues(flags: FlagValues(), environment: [:], file: file)
        #expect(try values.int(forKey: "a.b.c") == 5)
        #expect(throws: ConfigValueError.self) { try values.int(forKey: "a.b") }
        #expect(file.value(forKey: "n") == nil)
        #expect(file.value(forKey: "a.x.c") == nil)
    }

    /// Writes `json` to a temporary file and reads it as a config file (or only writes it, with `keep`).
    private func configFile(_ json: String) throws -> ConfigFile {
        let url = try configFile(json, keep: true)
        return try ConfigFile(path: url.path)
    }

    private func configFile(_ json: String, keep: Bool) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("amc-config-\(UUID().uuidString).json")
        try json.write(to: url, atomically: true, encoding: .utf8)
        return url
    }
}
