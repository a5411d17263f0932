import Catalog
import Model

/// The catalog in the form one model version scores: every image's query-independent work done once.
///
/// Shared between versions whose image encoders are identical (an MTN-only fine-tune keeps them), so such a
/// swap costs no re-encoding. Each image's encodings are one contiguous block (``EncodedImage``); every batch of
/// ``batchSize`` images shares one allocation (huge pages where the OS offers them), so a request's gather of
/// ~100 scattered blocks touches few pages.
final class EncodedCatalog: Sendable {
    /// Image keys, in catalog order.
    let keys: [String]
    /// Encodings, parallel to ``keys``.
    let images: [EncodedImage]
    /// Each image's keywords (the catalog's strings, which explanations name), parallel to ``keys``.
    let keywords: [[String]]
    /// The catalog revision these were encoded from (``CatalogStore/revision()``).
    let revision: String
    private let positions: [String: Int]

    /// How the encodings are stored.
    let precision: EncodingPrecision

    /// Encodes every image of `catalog` with `model` (the first of repeated keys wins) and stores the encodings at
    /// `precision`.
    /// - Precondition: Every image has the model's region dimension.
    init(catalog: [CatalogImage], revision: String, model: any ScoringModel, precision: EncodingPrecision = .float32) {
        var keys: [String] = []
        var positions: [String: Int] = [:]
        var images: [EncodedImage] = []
        var keywords: [[String]] = []
        keys.reserveCapacity(catalog.count)
        images.reserveCapacity(catalog.count)
        var pending: [ImageFeatures] = []
        for image in catalog where positions[image.key] == nil {
            positions[image.key] = keys.count
            keys.append(image.key)
            keywords.append(image.keywords)
            pending.append(
                ImageFeatures(
                    regions: image.regions,
                    regionCount: image.regionCount,
                    keywords: model.keywordInputs(image.keywords)
                )
            )
            if pending.count == Self.batchSize {
                images.append(contentsOf: EncodedImage.stored(model.encodeImages(pending), at: precision))
                pending.removeAll(keepingCapacity: true)
            }
        }
        images.append(contentsOf: EncodedImage.stored(model.encodeImages(pending), at: precision))
        self.keys = keys
        self.images = images
        self.keywords = keywords
        self.positions = positions
        self.revision = revision
        self.precision = precision
    }

    /// Images encoded per ``ScoringModel/encodeImages(_:)`` call: the unit of allocation (~5 MB in float32 at the defaults).
    static let batchSize = 512

    /// The number of images.
    var count: Int { keys.count }

    /// An image's encoding, nil when it is not in the catalog.
    subscript(key: String) -> EncodedImage? { positions[key].map { images[$0] } }

    /// An image's position in catalog order (an index into ``keys``, ``images`` and ``keywords``), nil when it is
    /// not in the catalog.
    func position(of key: String) -> Int? { positions[key] }

    /// An image's keywords in catalog order, nil when it is not in the catalog.
    func keywords(of key: String) -> [String]? { positions[key].map { keywords[$0] } }

    /// Bytes held by the encodings.
    var byteCount: Int { images.reduce(0) { $0 + $1.byteCount } }
}
