using System.Text;
using Vireo.Qemu;

namespace Vireo.IntegrationTests;

/// <summary>Internal and external snapshots of a running test guest, against the real QEMU and qemu-img.</summary>
[Collection("vireo")]
public sealed class SnapshotTests(VireoFixture fx)
{
    private static async Task<(TestDaemon D, GuestAgent Agent)> GuestAsync(VireoFixture fx, string volume, string format)
    {
        var d = await TestDaemon.StartAsync(fx);
        await d.OkAsync("vol-create-as", "default", volume, "64M", "--format", format);
        var agentPath = Path.Combine(d.Root, "g.agent");
        await d.DefineAsync(d.GuestXml("g", cmdlineExtra: "vireo.agent", devices: $"""
            <disk type='volume' device='disk'><source pool='default' volume='{volume}'/><target dev='vda' bus='virtio'/></disk>
            {GuestAgent.Device(agentPath)}
            """));
        await d.OkAsync("start", "g");
        await d.WaitForSerialAsync("g", "VIREO-GUEST-READY");
        return (d, new GuestAgent(agentPath));
    }

    private static Task Write(GuestAgent a, string text, int sector) =>
        a.RunAsync($"printf {text} | dd of=/dev/vda bs=512 seek={sector} conv=fsync 2>/dev/null");

    private static async Task<string> Read(GuestAgent a, int sector, int length) =>
        (await a.RunAsync($"echo 3 > /proc/sys/vm/drop_caches; dd if=/dev/vda bs=512 skip={sector} count=1 2>/dev/null | head -c {length}")).Trim('\0', '\n');

    [Fact]
    public async Task An_internal_snapshot_brings_back_disk_and_memory()
    {
        var (d, agent) = await GuestAsync(fx, "snap.qcow2", "qcow2");
        await using var _ = d;
        using var __ = agent;
        await agent.StartCounterAsync();
        await Write(agent, "DISK-ONE", 8);
        await Task.Delay(1000);
        Assert.Equal("Domain snapshot s1 created\n", await d.OkAsync("snapshot-create-as", "g", "s1", "first point"));
        var atSnapshot = await agent.CounterAsync();
        await Task.Delay(2500);
        await Write(agent, "DISK-TWO", 8);
        var later = await agent.CounterAsync();
        Assert.True(later > atSnapshot + 10, $"counter {atSnapshot} -> {later}");

        var sinceRevert = System.Diagnostics.Stopwatch.StartNew();
        await d.OkAsync("snapshot-revert", "g", "s1");
        Assert.StartsWith("running", await d.StateAsync("g"));
        var reverted = await agent.CounterAsync();
        // The guest counts on from the snapshot's value (10 a second) while the revert ends and the agent answers.
        var slack = (int)(sinceRevert.Elapsed.TotalSeconds * 10) + 3;
        Assert.True(reverted < later && reverted <= atSnapshot + slack, $"counter at snapshot {atSnapshot}, later {later}, after revert {reverted} ({sinceRevert.ElapsedMilliseconds} ms after the revert began)");
        Assert.Equal("DISK-ONE", await Read(agent, 8, 8));

        var list = await d.OkAsync("snapshot-list", "g");
        Assert.Matches(@"s1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000\s+running", list);
        var info = await d.OkAsync("snapshot-info", "g", "--current");
        Assert.Contains("Name:           s1", info);
        Assert.Contains("Location:       internal", info);
        Assert.Contains("<description>first point</description>", await d.OkAsync("snapshot-dumpxml", "g", "s1"));
        Assert.Contains("s1", (await QemuImg.InfoAsync(Path.Combine(d.Images, "snap.qcow2"))).Snapshots!);

        // A second snapshot is a child of the first; revert can leave the guest paused.
        await d.OkAsync("snapshot-create-as", "g", "--name", "s2");
        Assert.Equal("s1\n  |\n  +- s2\n\n", await d.OkAsync("snapshot-list", "g", "--tree"));
        await d.OkAsync("snapshot-revert", "g", "s1", "--paused");
        Assert.Equal("paused (from snapshot)", await d.StateAsync("g"));
        await d.OkAsync("resume", "g");
        Assert.Equal("DISK-ONE", await Read(agent, 8, 8));

        // Delete: the tags go from the image; the child moves up.
        Assert.Equal("Domain snapshot s1 deleted\n", await d.OkAsync("snapshot-delete", "g", "s1"));
        Assert.Contains("Parent:         -", await d.OkAsync("snapshot-info", "g", "s2"));
        await d.OkAsync("snapshot-delete", "g", "s2");
        Assert.Empty((await QemuImg.InfoAsync(Path.Combine(d.Images, "snap.qcow2"))).Snapshots!);

        // Shut off: snapshot and revert through qemu-img.
        await d.OkAsync("destroy", "g");
        await d.OkAsync("snapshot-create-as", "g", "off");
        Assert.Contains("State:          shutoff", await d.OkAsync("snapshot-info", "g", "off"));

        // What cannot be done is refused with the reason, and nothing is made.
        await d.OkAsync("vol-create-as", "default", "plain.raw", "8M");
        await d.OkAsync("attach-disk", "g", "plain.raw", "vdb", "--pool", "default", "--config");
        Assert.Equal($"error: Disk 'vdb' ({d.Images}/plain.raw) is raw; internal snapshots need every writable disk in qcow2. Use --disk-only for an external snapshot, which works on any disk.\n",
            await d.FailAsync("snapshot-create-as", "g", "bad"));
        Assert.Equal("error: Domain 'g' already has a snapshot 'off'; pick another name or delete it first.\n", await d.FailAsync("snapshot-create-as", "g", "off"));
        Assert.Equal("error: Domain snapshot not found: no snapshot with matching name 'nope' of 'g'. 'vireo snapshot-list g' shows them.\n", await d.FailAsync("snapshot-revert", "g", "nope"));
        Assert.DoesNotContain("bad", await d.OkAsync("snapshot-list", "g", "--name"));

        // A domain with snapshots is not undefined by accident; with the flags, its records and volumes go.
        Assert.Equal("error: Domain 'g' has 1 snapshot; delete it first (snapshot-delete), or add --snapshots-metadata to drop the records (their images stay).\n",
            await d.FailAsync("undefine", "g"));
        Assert.Equal($"Domain 'g' has been undefined\nVolume '{d.Images}/snap.qcow2' removed.\nVolume '{d.Images}/plain.raw' removed.\n",
            await d.OkAsync("undefine", "g", "--snapshots-metadata", "--remove-all-storage"));
        Assert.Empty(Directory.GetFiles(d.Images));
        Assert.False(Directory.Exists(Path.Combine(d.ConfigDir, "qemu", "snapshot", "g")));
    }

    [Fact]
    public async Task External_snapshots_merge_on_delete_and_revert()
    {
        var (d, agent) = await GuestAsync(fx, "disk.raw", "raw");
        await using var _ = d;
        using var __ = agent;
        var baseImg = Path.Combine(d.Images, "disk.raw");
        await Write(agent, "E0", 8);
        await d.OkAsync("snapshot-create-as", "g", "e1", "--disk-only");
        Assert.Matches($@"vda\s+{d.Images}/disk\.e1", await d.OkAsync("domblklist", "g"));
        await Write(agent, "E1", 16);
        await d.OkAsync("snapshot-create-as", "g", "e2", "--disk-only");
        Assert.Matches($@"vda\s+{d.Images}/disk\.e2", await d.OkAsync("domblklist", "g"));
        await Write(agent, "E2", 24);
        var chain = await QemuImg.ChainAsync(Path.Combine(d.Images, "disk.e2"));
        Assert.Equal([$"{d.Images}/disk.e2", $"{d.Images}/disk.e1", baseImg], chain.Select(i => i.Filename));
        Assert.Equal("e1\n  |\n  +- e2\n\n", await d.OkAsync("snapshot-list", "g", "--tree"));
        // The base may not be deleted from under the chain.
        Assert.Contains("is the backing image of", await d.FailAsync("vol-delete", "disk.raw", "--pool", "default"));

        // Delete the snapshot in the middle while the guest runs: disk.e1 is committed into the base.
        Assert.Equal("Domain snapshot e1 deleted\n", await d.OkAsync("snapshot-delete", "g", "e1"));
        Assert.False(File.Exists(Path.Combine(d.Images, "disk.e1")));
        Assert.Equal("E1", Encoding.ASCII.GetString(await ReadAt(baseImg, 16 * 512, 2)));
        Assert.Equal([$"{d.Images}/disk.e2", baseImg], (await QemuImg.ChainAsync(Path.Combine(d.Images, "disk.e2"))).Select(i => i.Filename));
        Assert.StartsWith("running", await d.StateAsync("g"));
        Assert.Equal(("E0", "E1", "E2"), (await Read(agent, 8, 2), await Read(agent, 16, 2), await Read(agent, 24, 2)));
        Assert.Contains($"<source file='{baseImg}'/>", await d.OkAsync("snapshot-dumpxml", "g", "e2"));
        Assert.Contains("Parent:         -", await d.OkAsync("snapshot-info", "g", "e2"));

        // Delete the last one: the active overlay is committed and the disk pivots back to the base.
        await d.OkAsync("snapshot-delete", "g", "e2");
        Assert.Matches($@"vda\s+{baseImg}", await d.OkAsync("domblklist", "g"));
        Assert.False(File.Exists(Path.Combine(d.Images, "disk.e2")));
        Assert.Equal("E2", Encoding.ASCII.GetString(await ReadAt(baseImg, 24 * 512, 2)));
        await Write(agent, "AFTER", 32);
        Assert.Equal("AFTER", Encoding.ASCII.GetString(await ReadAt(baseImg, 32 * 512, 5)));
        Assert.Contains($"<source file='{baseImg}'/>", await d.OkAsync("dumpxml", "g", "--inactive"));

        // Revert to an external snapshot: the guest stops and comes back on a fresh overlay over the frozen image.
        await d.OkAsync("snapshot-create-as", "g", "e3", "--disk-only");
        await Write(agent, "LATE", 40);
        await d.OkAsync("snapshot-revert", "g", "e3");
        Assert.Equal("shut off (from snapshot)", await d.StateAsync("g"));
        await d.OkAsync("start", "g");
        await d.WaitForSerialAsync("g", "VIREO-GUEST-READY"); // the log starts over with the new QEMU
        agent.Reset();
        Assert.Equal("AFTER", await Read(agent, 32, 5));
        Assert.Equal("", await Read(agent, 40, 4));
        Assert.Matches($@"vda\s+{d.Images}/disk\.e3", await d.OkAsync("domblklist", "g"));
        await d.OkAsync("destroy", "g");
        await d.OkAsync("snapshot-delete", "g", "e3");
        Assert.Contains($"<source file='{baseImg}'/>", await d.OkAsync("dumpxml", "g", "--inactive"));
        Assert.Equal(["disk.raw"], Directory.GetFiles(d.Images).Select(f => Path.GetFileName(f)).ToArray());
    }

    private static async Task<byte[]> ReadAt(string path, long offset, int count)
    {
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        f.Position = offset;
        var b = new byte[count];
        await f.ReadExactlyAsync(b);
        return b;
    }
}
