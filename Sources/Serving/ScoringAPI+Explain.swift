import Catalog
import ClickLog
import Model

extension ScoringAPI {
    /// Explains one catalog image's score for a query outside a worker (`amc explain`): the result, and the response
    /// body `POST /v1/score` with `{"query": query, "images": [image.key], "explain": true}` answers when `model` is
    /// served as `modelVersion`, byte for byte — but for the worker's `ranking_id`, which `amc explain` leaves out
    /// (it serves no ranking) unless one is given.
    ///
    /// The image is encoded and scored like a worker does (``Model/ScoringModel/encodeImages(_:)``, then the explanation
    /// of the encoded image), the query normalised like ingest.
    /// - Parameters:
    ///   - model: The model.
    ///   - modelVersion: Its version number.
    ///   - query: The query as typed (validate it first with ``ClickLog/QueryNormalizer/validated(_:field:maxBytes:)``).
    ///   - image: The catalog image; its region dimension must be the model's.
    ///   - rankingID: The `ranking_id` the body carries; nil (the default) leaves it out.
    /// - Returns: The explained result and the response body.
    public static func explain(
        model: any ScoringModel,
        modelVersion: Int64,
        query: String,
        image: CatalogImage,
        rankingID: String? = nil
    ) throws -> (result: ScoringResult.Item, body: [UInt8]) {
        precondition(image.regionDimension == model.regionDimension, "region dimension mismatch")
        let features = ImageFeatures(
            regions: image.regions,
            regionCount: image.regionCount,
            keywords: model.keywordInputs(image.keywords)
        )
        let encodedQuery = model.encodeQuery(QueryNormalizer.normalize(query))
        let encodedImages = model.encodeImages([features])
        let item = ScoringResult.Item(
            image: image.key,
            scored: model.score(query: encodedQuery, encodedImages: encodedImages)[0],
            explanation: model.explain(query: encodedQuery, encodedImages: encodedImages)[0],
            keywords: image.keywords
        )
        let body = try scoreResponseBody(
            modelVersion: modelVersion,
            result: ScoringResult(results: [item], unknownImages: []),
            rankingID: rankingID
        )
        return (item, body)
    }
}
