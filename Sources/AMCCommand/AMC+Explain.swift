import ArgumentParser
import Catalog
import ClickLog
import CommandSupport
import Model
import Postgres
import Registry
import Serving

extension AMC {
    /// `amc explain`: the architecture's explanation of one score (design §4), as `POST /v1/score` with
    /// `"explain": true` gives it.
    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Explain one image's score for a query: β, the top keywords by attention, the region heat map.",
            discussion: """
                Loads the model version (default: the active one) and the image from the catalog, and prints the \
                score, the modality weights β_v/β_k, the keywords with the most attention λ, and the attention α \
                over the image's region grid as a heat map (coloured on a terminal). --json prints the response \
                POST /v1/score answers for {"query": QUERY, "images": [IMAGE], "explain": true}.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Argument(help: "The query, as typed (it is normalised like ingest).") var query: String
        @Argument(help: "The image key, as in the catalog.") var image: String

        @Option(help: "Model version to explain. Default: the active version.") var version: Int64?

        @Flag(help: "Print the JSON response of the scoring API instead of text.") var json = false

        @Flag(help: "Also print the region attention as numbers.") var numbers = false

        func validate() throws {
            if let version, version < 1 { throw ValidationError("--version must be at least 1, got \(version)") }
        }

        func run() async throws {
            let normalized: String
            do {
                normalized = try QueryNormalizer.validated(
                    query,
                    field: "the query",
                    maxBytes: ServingConfiguration().maxQueryBytes
                )
            } catch {
                throw CommandError(error.detail)
            }
            let settings = try await options.resolve()
            let (requested, key) = (version, image)
            let (number, model, found) = try await withConnection(settings) { connection in
                let registry = ModelRegistry(connection: connection)
                guard let number = try requested ?? registry.activeVersion() else {
                    throw CommandError(
                        "no model version is active: activate one (amc model activate N) or pass --version N"
                    )
                }
                let model = try registry.model(of: number)
                guard let found = try CatalogStore(connection: connection).images(keys: [key]).first else {
                    throw CommandError("image \(TerminalText.escaped(key)) is not in the catalog")
                }
                return (number, model, found)
            }
            guard found.regionDimension == model.regionDimension else {
                throw CommandError(
                    "image \(TerminalText.escaped(key)) has region dimension \(found.regionDimension), "
                        + "model version \(number) expects \(model.regionDimension)"
                )
            }
            let explained = try ScoringAPI.explain(model: model, modelVersion: number, query: query, image: found)
            if json {
                print(String(decoding: explained.body, as: UTF8.self))
            } else {
                let text = ExplanationText(style: ExplanationText.standardOutputStyle(), numbers: numbers)
                print(text.render(explained.result, query: normalized, version: number))
            }
        }
    }
}
