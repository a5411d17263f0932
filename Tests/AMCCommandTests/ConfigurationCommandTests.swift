import Foundation
import TestSupport
import Testing

/// Every invalid configuration value, from any layer, stops the command with one line naming the key, the layer
/// and the problem, through the real `amc` binary.
@Suite(.timeLimit(.minutes(10)))
struct ConfigurationCommandTests {
    /// What a key holds, and so which bad values each layer can give it.
    enum Kind {
        case integer, number, boolean, string, strings, choice
    }

    /// One configuration key, the command that reads it, and (when it has one) its option with a value out of range.
    struct Key: CustomTestStringConvertible, Sendable {
        var key: String
        var command: [String]
        var kind: Kind
        var flag: (name: String, outOfRange: String)?

        var testDescription: String { key }
    }

    static let unreachableDatabase = "postgresql://nobody@127.0.0.1:1/nowhere"

    static let keys: [Key] = {
        let serve = ["serve"]
        let ingest = ["ingest"]
        let learn = ["learn"]
        let broker = ["broker"]
        let produce = ["produce", "--brokers", "127.0.0.1:1", "/dev/null"]
        let simulate = ["simulate", "--out", FileManager.default.temporaryDirectory.path + "/amc-never-written"]
        let users = ["simulate", "users", "--world", FileManager.default.temporaryDirectory.path + "/amc-no-world"]
        let learnIntegers: [(String, String?)] = [
            ("learn.bootstrap.epochs", "--bootstrap-epochs"), ("learn.finetune.epochs", "--finetune-epochs"),
            ("learn.batch-size", nil), ("learn.negatives", nil), ("learn.in-query-negatives", nil),
            ("learn.holdout-percent", nil), ("learn.gate.candidates", nil), ("learn.gate.max-queries", nil),
            ("learn.gate.min-queries", nil),
            ("learn.min-new-pairs", nil), ("learn.seed", "--seed"), ("learn.model.embedding-dimension", nil),
            ("learn.model.attention-dimension", nil), ("learn.model.modality-dimension", nil),
            ("learn.model.hash-buckets", nil),
        ]
        let learnNumbers: [(String, String?)] = [
            ("learn.bootstrap.learning-rate", "--bootstrap-learning-rate"),
            ("learn.finetune.learning-rate", "--finetune-learning-rate"),
            ("learn.bootstrap.auxiliary-weight", nil), ("learn.gate.tolerance", "--gate-tolerance"),
            ("learn.gate.p-value", nil),
            ("learn.interval-seconds", "--interval-seconds"),
            ("learn.min-cycle-spacing-seconds", "--min-cycle-spacing-seconds"),
            ("learn.evidence-horizon-seconds", "--evidence-horizon-seconds"), ("learn.model.margin", nil),
        ]
        var keys: [Key] = [
            Key(key: "log.level", command: serve, kind: .choice),
            Key(key: "log.format", command: serve, kind: .choice),
            Key(key: "database.url", command: ["migrate"], kind: .string),
            Key(
                key: "database.migrations",
                command: ["migrate", "--database-url", unreachableDatabase],
                kind: .string
            ),
            Key(
                key: "kafka.brokers",
                command: produce.filter { $0 != "--brokers" && $0 != "127.0.0.1:1" },
                kind: .string
            ),
            Key(key: "serve.host", command: serve, kind: .string),
            Key(key: "serve.port", command: serve, kind: .integer, flag: ("--port", "-1")),
            Key(key: "serve.max-body-bytes", command: serve, kind: .integer),
            Key(key: "serve.max-query-bytes", command: serve, kind: .integer),
            Key(key: "serve.max-images", command: serve, kind: .integer),
            Key(key: "serve.recheck-seconds", command: serve, kind: .number),
            Key(key: "serve.catalog-refresh-seconds", command: serve, kind: .number),
            Key(key: "serve.encoding", command: serve, kind: .choice),
            Key(key: "serve.catalog-memory", command: serve, kind: .string),
            Key(key: "serve.max-connections", command: serve, kind: .integer),
            Key(key: "serve.ranking-queue-capacity", command: serve, kind: .integer),
            Key(key: "serve.ranking-batch-size", command: serve, kind: .integer),
            Key(key: "serve.shadow-queue-capacity", command: serve, kind: .integer),
            Key(key: "serve.header-timeout-seconds", command: serve, kind: .number),
            Key(key: "serve.body-timeout-seconds", command: serve, kind: .number),
            Key(key: "serve.idle-timeout-seconds", command: serve, kind: .number),
            Key(key: "ingest.group", command: ingest, kind: .string, flag: ("--group", "")),
            Key(key: "ingest.instance-id", command: ingest, kind: .string),
            Key(key: "ingest.topic", command: ingest, kind: .strings),
            Key(key: "ingest.batch.maxRecords", command: ingest, kind: .integer, flag: ("--batch-size", "-1")),
            Key(key: "ingest.batch.maxLatencyMs", command: ingest, kind: .integer, flag: ("--batch-latency-ms", "0")),
            Key(key: "ingest.untilIdleSeconds", command: ingest, kind: .number, flag: ("--until-idle", "-2.5")),
            Key(key: "ingest.assignment.warnSeconds", command: ingest, kind: .number),
            Key(key: "ingest.assignment.timeoutSeconds", command: ingest, kind: .number),
            Key(key: "metrics.port", command: ingest, kind: .integer, flag: ("--metrics-port", "-1")),
            Key(key: "metrics.host", command: learn, kind: .string, flag: ("--metrics-host", "")),
            Key(key: "learn.activate", command: learn, kind: .boolean),
            Key(key: "learn.baselines", command: learn, kind: .boolean),
            Key(key: "learn.wake-on-commits", command: learn, kind: .boolean),
            Key(key: "learn.promotion", command: learn, kind: .choice, flag: ("--promotion", "always")),
            Key(key: "learn.interleaving.share", command: learn, kind: .number),
            Key(key: "learn.interleaving.min-impressions", command: learn, kind: .integer),
            Key(key: "learn.interleaving.p-value", command: learn, kind: .number),
            Key(key: "learn.interleaving.max-duration-seconds", command: learn, kind: .number),
            Key(key: "broker.partitions", command: broker, kind: .integer, flag: ("--partitions", "-1")),
            Key(key: "broker.topics", command: broker, kind: .strings),
            Key(key: "broker.count", command: broker, kind: .integer, flag: ("--broker-count", "-1")),
            Key(key: "broker.port", command: broker, kind: .integer, flag: ("--port", "-1")),
            Key(key: "produce.topic", command: produce, kind: .string, flag: ("--topic", "")),
            Key(key: "produce.rate", command: produce, kind: .integer, flag: ("--rate", "-1")),
            Key(
                key: "catalog.batchSize",
                command: ["catalog", "import", "--database-url", unreachableDatabase, "/dev/null"],
                kind: .integer,
                flag: ("--batch-size", "-1")
            ),
            Key(key: "simulate.out", command: ["simulate"], kind: .string),
            Key(key: "simulate.seed", command: simulate, kind: .integer, flag: ("--seed", "-1")),
            Key(key: "simulate.images", command: simulate, kind: .integer, flag: ("--images", "-1")),
            Key(key: "simulate.concepts", command: simulate, kind: .integer, flag: ("--concepts", "0")),
            Key(key: "simulate.queries", command: simulate, kind: .integer, flag: ("--queries", "-3")),
            Key(key: "simulate.held-out", command: simulate, kind: .integer, flag: ("--held-out", "-1")),
            Key(key: "simulate.visual-share", command: simulate, kind: .number, flag: ("--visual-share", "-0.5")),
            Key(key: "simulate.users.world", command: ["simulate", "users"], kind: .string),
            Key(key: "simulate.users.serve", command: users, kind: .string),
            Key(key: "simulate.users.topic", command: users, kind: .string, flag: ("--topic", "")),
            Key(key: "simulate.users.rate", command: users, kind: .number, flag: ("--rate", "0")),
            Key(key: "simulate.users.click-rate", command: users, kind: .number, flag: ("--click-rate", "0")),
            Key(key: "simulate.users.concurrency", command: users, kind: .integer, flag: ("--concurrency", "0")),
            Key(key: "simulate.users.duration", command: users, kind: .number, flag: ("--duration", "-1")),
            Key(key: "simulate.users.shift-at", command: users, kind: .number, flag: ("--shift-at", "-1")),
            Key(key: "simulate.users.seed", command: users, kind: .integer, flag: ("--seed", "-1")),
            Key(key: "simulate.users.examination", command: users, kind: .choice, flag: ("--examination", "dbn")),
            Key(key: "simulate.users.position-bias", command: users, kind: .number, flag: ("--position-bias", "-0.5")),
            Key(key: "simulate.users.page-size", command: users, kind: .integer, flag: ("--page-size", "0")),
            Key(
                key: "retention.months-ahead",
                command: ["retention", "--database-url", unreachableDatabase],
                kind: .integer,
                flag: ("--months-ahead", "-1")
            ),
            Key(key: "retention.keep", command: ["retention", "--database-url", unreachableDatabase], kind: .string),
            Key(key: "demo.clicks", command: ["demo"], kind: .string),
            Key(key: "demo.directory", command: ["demo"], kind: .string, flag: ("--directory", "")),
        ]
        // Each architecture's own settings, for every architecture the shipped file gives some.
        for id in shippedArchitectures() {
            keys += ["bootstrap.epochs", "finetune.epochs"].map {
                Key(key: "learn.architectures.\(id).\($0)", command: learn, kind: .integer)
            }
            keys += ["bootstrap.learning-rate", "bootstrap.auxiliary-weight", "finetune.learning-rate"].map {
                Key(key: "learn.architectures.\(id).\($0)", command: learn, kind: .number)
            }
        }
        keys += learnIntegers.map { Key(key: $0.0, command: learn, kind: .integer, flag: $0.1.map { ($0, "-1") }) }
        keys += learnNumbers.map { Key(key: $0.0, command: learn, kind: .number, flag: $0.1.map { ($0, "-0.5") }) }
        return keys
    }()

    /// The architecture ids under `learn.architectures` in the shipped config file.
    static func shippedArchitectures() -> [String] {
        let data = try? Data(contentsOf: repositoryRoot.appendingPathComponent("Config/amc.json"))
        let root = data.flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]
        let learn = root?["learn"] as? [String: Any]
        return ((learn?["architectures"] as? [String: Any])?.keys).map { $0.sorted() } ?? []
    }

    /// `{"a": {"b": VALUE}}` for the key `a.b`.
    static func json(_ key: String, _ value: String) -> String {
        let components = key.split(separator: ".")
        return components.reversed().reduce(value) { inner, component in "{\"\(component)\": \(inner)}" }
    }

    /// The environment variable of a key, as `Docs/configuration.md` documents it.
    static func variable(_ key: String) -> String {
        "AMC_" + String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    @Test(arguments: keys)
    func everyLayerRefusesAnInvalidValueInOneLine(key: Key) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("amc.json")
        let secret = key.key == "database.url"

        // The config file: a value of the wrong JSON type.
        let wrongJSON: String =
            switch key.kind {
            case .integer: "\"100\""
            case .number: "\"fast\""
            case .boolean: "1"
            case .string: "42"
            case .strings: "[1, 2]"
            case .choice: "\"loud\""
            }
        try Self.json(key.key, wrongJSON).write(to: config, atomically: true, encoding: .utf8)
        try await expectRefusal(
            key.command + ["--config", config.path],
            environment: [:],
            key: key.key,
            layer: "config file \(config.path)",
            showsValue: !secret
        )

        // The environment: text that is not of the key's type.
        let wrongText: String? =
            switch key.kind {
            case .integer: "abc"
            case .number: "1.5x"
            case .boolean: "maybe"
            case .choice: "loud"
            case .string, .strings: nil
            }
        if let wrongText {
            try await expectRefusal(
                key.command,
                environment: [Self.variable(key.key): wrongText],
                key: key.key,
                layer: "environment \(Self.variable(key.key))",
                showsValue: true
            )
        }

        // The command line: a value out of range, negative numbers included.
        if let flag = key.flag {
            try await expectRefusal(
                key.command + [flag.name, flag.outOfRange],
                environment: [:],
                key: key.key,
                layer: flag.name,
                showsValue: true
            )
        }
    }

    private func expectRefusal(
        _ arguments: [String],
        environment: [String: String],
        key: String,
        layer: String,
        showsValue: Bool
    ) async throws {
        let result = try await amc(arguments, environment: environment.merging(["AMC_DATABASE_URL": ""]) { a, _ in a })
        #expect(result.status != 0, "\(arguments) was accepted")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line: \(result.stderr)")
        let line = String(lines.first ?? "")
        #expect(line.hasPrefix("Error: \(key) (\(layer)) must be "), "\(line)")
        #expect(line.contains(", got ") == showsValue, "\(line)")
    }

    /// Every key the shipped config file names is among the keys checked above, so a new key cannot skip them.
    @Test func everyKeyOfTheShippedConfigFileIsChecked() throws {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("Config/amc.json"))
        func keys(of object: Any, prefix: String) -> [String] {
            guard let object = object as? [String: Any] else { return [prefix] }
            return object.flatMap { keys(of: $0.value, prefix: prefix.isEmpty ? $0.key : prefix + "." + $0.key) }
        }
        let shipped = keys(of: try JSONSerialization.jsonObject(with: data), prefix: "")
        let checked = Set(Self.keys.map(\.key))
        #expect(!shipped.isEmpty)
        #expect(shipped.filter { !checked.contains($0) }.sorted() == [])
    }

    @Test func theShippedConfigFileIsValidForEveryCommand() async throws {
        let shipped = repositoryRoot.appendingPathComponent("Config/amc.json").path
        let serve = try await amc(["serve", "--config", shipped], environment: ["AMC_DATABASE_URL": ""])
        #expect(serve.stderr == "Error: no database: pass --database-url or set AMC_DATABASE_URL\n", "\(serve.stderr)")
        for command in ["ingest", "learn"] {
            let result = try await amc([command, "--config", shipped, "--metrics-port", "70000"])
            #expect(
                result.stderr == "Error: metrics.port (--metrics-port) must be in 0...65535, got 70000\n",
                "every \(command) key of the shipped file was read before metrics.port: \(result.stderr)"
            )
        }
    }

    /// `learn.architectures`: an unknown architecture id, an unknown setting or hyper-parameter, or a per-architecture
    /// environment variable that names nothing known is refused in one line naming it (never silently ignored).
    @Test func anUnknownArchitectureOrArchitectureSettingIsRefusedNamingIt() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("amc.json")
        let cases: [(json: String, names: [String])] = [
            (
                #"{"learn": {"architectures": {"amc": {}, "lenet": {"finetune": {"epochs": 2}}}}}"#,
                ["learn.architectures.lenet (config file \(config.path)): unknown architecture lenet; known: amc, "]
            ),
            (
                #"{"learn": {"architectures": {"late_fusion": {"finetune": {"epoch": 2}}}}}"#,
                ["learn.architectures.late_fusion.finetune.epoch (config file", "unknown setting epoch"]
            ),
            (
                #"{"learn": {"architectures": {"amc": {"online": {"epochs": 2}}}}}"#,
                ["learn.architectures.amc.online (config file", "unknown setting online"]
            ),
            (
                #"{"learn": {"architectures": {"amc": {"hyper-parameters": {"zeta": 2}}}}}"#,
                ["learn.architectures.amc.hyper-parameters.zeta (config file", "unknown setting zeta"]
            ),
            (
                #"{"learn": {"architectures": {"amc": {"hyper-parameters": {"H": 512}}}}}"#,
                ["learn.architectures.amc.hyper-parameters.H (config file", "shared by every architecture"]
            ),
            (
                #"{"learn": {"architectures": {"amc": {"hyper-parameters": {"d": 0}}}}}"#,
                ["learn.architectures.amc.hyper-parameters do not fit amc"]
            ),
            (#"{"learn": {"architectures": ["amc"]}}"#, ["learn.architectures (config file"]),
        ]
        for (json, names) in cases {
            try json.write(to: config, atomically: true, encoding: .utf8)
            let result = try await amc(["learn", "--config", config.path], environment: ["AMC_DATABASE_URL": ""])
            #expect(result.status != 0, "\(json) was accepted")
            #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
            for name in names { #expect(result.stderr.contains(name), "\(json): \(result.stderr)") }
        }
        // A gate that must judge more queries than it may evaluate.
        try #"{"learn": {"gate": {"min-queries": 300, "max-queries": 200}}}"#.write(
            to: config,
            atomically: true,
            encoding: .utf8
        )
        let gate = try await amc(["learn", "--config", config.path], environment: ["AMC_DATABASE_URL": ""])
        #expect(gate.status != 0)
        #expect(
            gate.stderr.contains(
                "learn.gate.min-queries (config file \(config.path)) must be in 0...200 (at most "
                    + "learn.gate.max-queries), got 300"
            ),
            "\(gate.stderr)"
        )
        let variable = "AMC_LEARN_ARCHITECTURES_LENET_FINETUNE_EPOCHS"
        let environment = try await amc(["learn"], environment: ["AMC_DATABASE_URL": "", variable: "2"])
        #expect(environment.status != 0)
        #expect(
            environment.stderr.hasPrefix("Error: environment \(variable) names no setting"),
            "\(environment.stderr)"
        )
    }

    @Test func aMalformedConfigFileIsOneLineNamingTheFileAndThePlace() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("amc.json")
        try "{\"serve\": {\n  \"port\": 80,,\n}}".write(to: config, atomically: true, encoding: .utf8)
        let malformed = try await amc(["serve", "--config", config.path])
        #expect(malformed.status != 0)
        #expect(malformed.stderr.split(separator: "\n").count == 1, "\(malformed.stderr)")
        #expect(malformed.stderr.hasPrefix("Error: config file \(config.path) is not valid JSON: "))
        #expect(malformed.stderr.contains("(line 2, column"), "\(malformed.stderr)")
        #expect(!malformed.stderr.contains("NSCocoaErrorDomain"))

        try "[1, 2]".write(to: config, atomically: true, encoding: .utf8)
        let array = try await amc(["serve", "--config", config.path])
        #expect(array.stderr == "Error: config file \(config.path) must hold a JSON object, got an array\n")

        let missing = folder.appendingPathComponent("missing.json").path
        let absent = try await amc(["serve", "--config", missing])
        #expect(absent.stderr == "Error: config file \(missing) does not exist\n")
    }
}
