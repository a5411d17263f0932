/// The command line as `amc` hands it to the argument parser, after two rewrites the parser cannot do itself.
///
/// - Global options before the subcommand (`amc --database-url U model list`) move after it, where every
///   subcommand declares them.
/// - A negative number after an option (`--port -1`) is joined to it (`--port=-1`), so it is read as the option's
///   value (and refused by the option's own check) rather than taken for an unknown option.
enum CommandLineArguments {
    /// The rewritten arguments (without the executable's name).
    static func normalised(_ arguments: [String]) -> [String] {
        joiningNegativeNumbers(movingLeadingGlobalOptions(arguments))
    }

    /// Moves the global options that precede the subcommand's name to the end (before a `--` terminator, if any).
    static func movingLeadingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            guard GlobalOptions.valueOptionNames.contains(name) else { break }
            if argument.contains("=") || index + 1 == arguments.endIndex {
                leading.append(argument)
                index += 1
            } else {
                leading.append(contentsOf: arguments[index...(index + 1)])
                index += 2
            }
        }
        var rest = Array(arguments[index...])
        guard !leading.isEmpty, !rest.isEmpty else { return arguments }
        rest.insert(contentsOf: leading, at: rest.firstIndex(of: "--") ?? rest.endIndex)
        return rest
    }

    /// Joins `--option -12.5` into `--option=-12.5`, up to a `--` terminator.
    static func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" {
                result.append(contentsOf: arguments[index...])
                break
            }
            if argument.hasPrefix("--"), !argument.contains("="), index + 1 < arguments.endIndex,
                isNegativeNumber(arguments[index + 1])
            {
                result.append("\(argument)=\(arguments[index + 1])")
                index += 2
            } else {
                result.append(argument)
                index += 1
            }
        }
        return result
    }

    /// `-1`, `-0.5`, `-.5`, `-1e3`: never an option name, since no option of `amc` is a digit.
    static func isNegativeNumber(_ text: String) -> Bool {
        guard text.hasPrefix("-"), text.count > 1 else { return false }
        let number = text.dropFirst()
        guard number.first?.isNumber == true || number.first == "." else { return false }
        return Double(number) != nil
    }
}
