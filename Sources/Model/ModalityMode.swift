/// Which modalities build the image representation `u`.
///
/// `.attention` is the AMC model. `.imageOnly` and `.keywordOnly` are the paper's single-modality baselines,
/// trained with the same code: the other branch is not computed, `β` is fixed and no gradient reaches the MTN.
public enum ModalityMode: String, Sendable, Hashable, CaseIterable {
    /// `[β_v, β_k]` from the modality attention network (the AMC model).
    case attention
    /// `β_v = 1`, `β_k = 0` exactly: `u` is the attended visual vector; the keyword branch is skipped.
    case imageOnly = "image_only"
    /// `β_v = 0`, `β_k = 1` exactly: `u` is the attended keyword vector; the visual branch is skipped.
    case keywordOnly = "keyword_only"
}
