import ArgumentParser

/// The `modelflag` command: the sidecar and its tools.
@main
struct ModelFlag: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelflag",
        abstract: "Feature flags for AI models: a sidecar proxy in front of a model server.",
        version: "0.1.0",
        subcommands: [
            Run.self, Check.self, ExplainCommand.self, RecordsCommand.self, GateCommand.self, StubModel.self, Demo.self,
        ],
        defaultSubcommand: nil
    )
}
