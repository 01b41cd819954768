using System.CommandLine;
using System.Text;
using System.Text.Json;
using Vireo.Api;

namespace Vireo.Cli;

public static partial class CliMain
{
    private static async Task<SnapshotInfo[]> SnapshotsAsync(DaemonClient c, string domain, CancellationToken ct) =>
        await c.JsonAsync("GET", $"v1/domains/{DaemonClient.E(domain)}/snapshots", ApiJson.Default.SnapshotInfoArray, null, ct);

    /// <summary>The snapshot named, or with --current (or no name) the current one.</summary>
    private static async Task<string> SnapNameAsync(DaemonClient c, string domain, string? name, CancellationToken ct)
    {
        if (name is not null) return name;
        return (await SnapshotsAsync(c, domain, ct)).FirstOrDefault(s => s.Current)?.Name
            ?? throw new CliException($"Domain '{domain}' has no current snapshot; name one.");
    }

    private static string SnapUrl(string domain, string snap) => $"v1/domains/{DaemonClient.E(domain)}/snapshots/{DaemonClient.E(snap)}";

    private static void AddSnapshotCommands(RootCommand root)
    {
        {
            var d = DomainArg();
            var name = new Argument<string?>("name") { Description = "Snapshot name (default: the time)", Arity = ArgumentArity.ZeroOrOne };
            var description = new Argument<string?>("description") { Arity = ArgumentArity.ZeroOrOne };
            var nameOpt = new Option<string?>("--name") { Description = "Snapshot name" };
            var descOpt = new Option<string?>("--description") { Description = "Description" };
            var diskOnly = new Option<bool>("--disk-only") { Description = "External snapshot of the disks only: each disk gets a new qcow2 overlay" };
            var atomic = new Option<bool>("--atomic") { Description = "Accepted for virsh compatibility: Vireo snapshots are all-or-nothing" };
            var cmd = new Command("snapshot-create-as", "Create a snapshot from a set of arguments") { d, name, description, nameOpt, descOpt, diskOnly, atomic };
            Client(cmd, async (pr, c, ct) =>
            {
                var req = new SnapshotRequest(pr.GetValue(nameOpt) ?? pr.GetValue(name), pr.GetValue(descOpt) ?? pr.GetValue(description), pr.GetValue(diskOnly), null);
                var s = await c.JsonAsync("POST", $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/snapshots", ApiJson.Default.SnapshotInfo,
                    DaemonClient.Json(req, ApiJson.Default.SnapshotRequest), ct);
                Console.WriteLine($"Domain snapshot {s.Name} created");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var file = new Argument<string?>("xmlfile") { Description = "Snapshot XML (<domainsnapshot>); none: a snapshot named by the time", Arity = ArgumentArity.ZeroOrOne };
            var diskOnly = new Option<bool>("--disk-only") { Description = "External snapshot of the disks only" };
            var cmd = new Command("snapshot-create", "Create a snapshot from XML") { d, file, diskOnly };
            Client(cmd, async (pr, c, ct) =>
            {
                var xml = pr.GetValue(file) is { } f ? await ReadXmlArg(f, ct) : null;
                var req = new SnapshotRequest(null, null, pr.GetValue(diskOnly), xml);
                var s = await c.JsonAsync("POST", $"v1/domains/{DaemonClient.E(pr.GetValue(d)!)}/snapshots", ApiJson.Default.SnapshotInfo,
                    DaemonClient.Json(req, ApiJson.Default.SnapshotRequest), ct);
                Console.WriteLine($"Domain snapshot {s.Name} created{(pr.GetValue(file) is { } p ? " from '" + p + "'" : "")}");
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var tree = new Option<bool>("--tree") { Description = "Show the snapshots as a tree" };
            var parent = new Option<bool>("--parent") { Description = "Add each snapshot's parent" };
            var names = new Option<bool>("--name") { Description = "Names only" };
            var cmd = new Command("snapshot-list", "List the snapshots of a domain") { d, tree, parent, names };
            Client(cmd, async (pr, c, ct) =>
            {
                var all = await SnapshotsAsync(c, pr.GetValue(d)!, ct);
                if (pr.GetValue(tree)) { Console.Write(SnapshotTree(all)); return 0; }
                if (pr.GetValue(names))
                {
                    foreach (var s in all) Console.WriteLine(s.Name);
                    Console.WriteLine();
                    return 0;
                }
                static string Time(long t) => DateTimeOffset.FromUnixTimeSeconds(t).ToString("yyyy-MM-dd HH:mm:ss zzz").Remove(23, 1);
                if (pr.GetValue(parent))
                    Console.Write(Table.Render(["Name", "Creation Time", "State", "Parent"], all.Select(s => new[] { s.Name, Time(s.CreationTime), s.State, s.Parent ?? "" })));
                else
                    Console.Write(Table.Render(["Name", "Creation Time", "State"], all.Select(s => new[] { s.Name, Time(s.CreationTime), s.State })));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var snap = new Argument<string?>("snapshotname") { Arity = ArgumentArity.ZeroOrOne };
            var current = new Option<bool>("--current") { Description = "The current snapshot" };
            var cmd = new Command("snapshot-info", "Snapshot information") { d, snap, current };
            Client(cmd, async (pr, c, ct) =>
            {
                var dom = pr.GetValue(d)!;
                var name = await SnapNameAsync(c, dom, pr.GetValue(snap), ct);
                var s = await c.JsonAsync("GET", SnapUrl(dom, name), ApiJson.Default.SnapshotInfo, null, ct);
                Console.Write(Table.Pairs([("Name", s.Name), ("Domain", s.Domain), ("Current", YesNo(s.Current)), ("State", s.State), ("Location", s.Location),
                    ("Parent", s.Parent ?? "-"), ("Children", s.Children.ToString()), ("Descendants", s.Descendants.ToString()), ("Metadata", "yes")]));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var snap = new Argument<string>("snapshotname");
            var cmd = new Command("snapshot-dumpxml", "Snapshot information in XML") { d, snap };
            Client(cmd, async (pr, c, ct) =>
            {
                Console.Write(await c.TextAsync("GET", SnapUrl(pr.GetValue(d)!, pr.GetValue(snap)!) + "/xml", null, ct));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var name = new Option<bool>("--name") { Description = "Only the name" };
            var cmd = new Command("snapshot-current", "The current snapshot") { d, name };
            Client(cmd, async (pr, c, ct) =>
            {
                var dom = pr.GetValue(d)!;
                var cur = await SnapNameAsync(c, dom, null, ct);
                if (pr.GetValue(name)) Console.WriteLine(cur);
                else Console.Write(await c.TextAsync("GET", SnapUrl(dom, cur) + "/xml", null, ct));
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var snap = new Argument<string?>("snapshotname") { Arity = ArgumentArity.ZeroOrOne };
            var current = new Option<bool>("--current") { Description = "Revert to the current snapshot" };
            var running = new Option<bool>("--running") { Description = "Leave the guest running afterwards" };
            var paused = new Option<bool>("--paused") { Description = "Leave the guest paused afterwards" };
            var force = new Option<bool>("--force") { Description = "Accepted for virsh compatibility" };
            var cmd = new Command("snapshot-revert", "Revert a domain to a snapshot") { d, snap, current, running, paused, force };
            Client(cmd, async (pr, c, ct) =>
            {
                if (pr.GetValue(running) && pr.GetValue(paused)) throw new CliException("Use --running or --paused, not both.");
                var dom = pr.GetValue(d)!;
                var name = await SnapNameAsync(c, dom, pr.GetValue(snap), ct);
                var q = pr.GetValue(paused) ? "?paused=true" : pr.GetValue(running) ? "?paused=false" : "";
                (await c.SendAsync("POST", SnapUrl(dom, name) + "/revert" + q, null, ct)).Dispose();
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
        {
            var d = DomainArg();
            var snap = new Argument<string?>("snapshotname") { Arity = ArgumentArity.ZeroOrOne };
            var current = new Option<bool>("--current") { Description = "Delete the current snapshot" };
            var cmd = new Command("snapshot-delete", "Delete a snapshot (an external one is merged into the image below it)") { d, snap, current };
            Client(cmd, async (pr, c, ct) =>
            {
                var dom = pr.GetValue(d)!;
                var name = await SnapNameAsync(c, dom, pr.GetValue(snap), ct);
                var bar = new ProgressBar($"Deleting snapshot {name}");
                var done = await JobAsync(c, SnapUrl(dom, name) + "/delete", null, bar, ct);
                Console.WriteLine(done.Message);
                return 0;
            });
            root.Subcommands.Add(cmd);
        }
    }

    /// <summary>virsh's --tree layout: children under their parent, joined with "|" and "+-".</summary>
    public static string SnapshotTree(IReadOnlyList<SnapshotInfo> all)
    {
        var sb = new StringBuilder();
        void Walk(SnapshotInfo s, string indent, bool root)
        {
            var kids = all.Where(x => x.Parent == s.Name).ToList();
            for (var i = 0; i < kids.Count; i++)
            {
                var last = i == kids.Count - 1;
                sb.Append(indent).Append("  |\n");
                sb.Append(indent).Append("  +- ").Append(kids[i].Name).Append('\n');
                Walk(kids[i], indent + (last ? "    " : "  | "), false);
            }
        }
        foreach (var r in all.Where(x => x.Parent is null || all.All(y => y.Name != x.Parent)))
        {
            sb.Append(r.Name).Append('\n');
            Walk(r, "", true);
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
