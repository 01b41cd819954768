using System.Reflection;
using Vireo.Cli;
using Vireo.Model;

namespace Vireo.Tests;

public class MiscTests
{
    [Theory]
    [InlineData("10G", 10737418240UL)]
    [InlineData("512M", 536870912UL)]
    [InlineData("1024", 1024UL)]
    [InlineData("1GB", 1000000000UL)]
    public void Sizes_parse_like_qemu_img(string text, ulong bytes)
    {
        Assert.True(Units.TryParseSize(text, out var b));
        Assert.Equal(bytes, b);
    }

    [Fact]
    public void Bad_sizes_are_rejected() => Assert.False(Units.TryParseSize("ten gigs", out _));

    [Fact]
    public void List_table_has_virsh_layout()
    {
        var t = Table.Render(["Id", "Name", "State"], [["1", "demo", "running"], ["-", "web-server", "shut off"]]);
        Assert.Equal(
            " Id   Name         State\n" +
            "----------------------------\n" +
            " 1    demo         running\n" +
            " -    web-server   shut off\n\n", t);
    }

    [Fact]
    public void Mac_addresses_normalise_and_generate_with_qemu_prefix()
    {
        Assert.Equal("52:54:00:ab:cd:ef", MacAddress.Normalize("52:54:00:AB:CD:EF"));
        Assert.Null(MacAddress.Normalize("52:54:00:ab:cd"));
        Assert.Matches("^52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$", MacAddress.Generate());
    }

    /// <summary>Arrows only point down: Model ← Host ← Qemu ← Engine ← Web ← Daemon; the CLI never sees the engine.</summary>
    [Theory]
    [InlineData("Vireo.Model", new string[0])]
    [InlineData("Vireo.Host", new[] { "Vireo.Model" })]
    [InlineData("Vireo.Qemu", new[] { "Vireo.Model", "Vireo.Host" })]
    [InlineData("Vireo.Engine", new[] { "Vireo.Model", "Vireo.Host", "Vireo.Qemu" })]
    [InlineData("Vireo.Cli", new[] { "Vireo.Model", "Vireo.Host", "Vireo.Qemu", "Vireo.Api" })]
    [InlineData("Vireo.Web", new[] { "Vireo.Engine", "Vireo.Api", "Vireo.Model", "Vireo.Host", "Vireo.Qemu" })]
    [InlineData("Vireo.Libvirt", new[] { "Vireo.Engine", "Vireo.Model", "Vireo.Host", "Vireo.Qemu" })]
    [InlineData("Vireo.Daemon", new[] { "Vireo.Engine", "Vireo.Api", "Vireo.Model", "Vireo.Host", "Vireo.Qemu", "Vireo.Web", "Vireo.Libvirt" })]
    public void Layering_is_respected(string assembly, string[] allowed)
    {
        var refs = Assembly.Load(assembly).GetReferencedAssemblies()
            .Select(a => a.Name!)
            .Where(n => n.StartsWith("Vireo", StringComparison.Ordinal) || n.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal))
            .Where(n => assembly is not ("Vireo.Daemon" or "Vireo.Web") || !n.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)) // the web shells
            .ToList();
        Assert.All(refs, r => Assert.Contains(r, allowed));
    }

    [Fact]
    public async Task A_reverter_undoes_what_was_done_last_first_unless_committed_and_one_failing_undo_stops_no_other()
    {
        var undone = new List<string>();
        var failures = new List<Exception>();
        var boom = new InvalidOperationException("step 3 failed");
        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var revert = new Vireo.Host.Reverter(failures.Add);
            revert.Add(() => undone.Add("bridge"));
            revert.Add(async () => { await Task.Yield(); undone.Add("tap"); });
            revert.Add(() => throw new IOException("tap already gone"));
            revert.Add(() => undone.Add("socket"));
            throw boom;
        });
        Assert.Same(boom, thrown); // the undo's own failure does not replace the error that started it
        Assert.Equal(["socket", "tap", "bridge"], undone);
        Assert.Equal("tap already gone", Assert.Single(failures).Message);

        // Committed steps stay; steps added after a commit are undone again.
        undone.Clear();
        await using (var revert = new Vireo.Host.Reverter())
        {
            revert.Add(() => undone.Add("switched disk"));
            revert.Commit();
            revert.Add(() => undone.Add("overlay of the next disk"));
        }
        Assert.Equal(["overlay of the next disk"], undone);

        // RevertAsync undoes at once, and disposal afterwards does nothing more.
        undone.Clear();
        await using (var revert = new Vireo.Host.Reverter())
        {
            revert.Add(() => undone.Add("qemu"));
            await revert.RevertAsync();
            Assert.Equal(["qemu"], undone);
        }
        Assert.Equal(["qemu"], undone);
    }

    [Fact]
    public void Failures_that_escape_an_operation_become_answers_with_their_words_in_one_place()
    {
        var gone = Vireo.Engine.Failures.Classify(new Vireo.Qemu.QmpDisconnectedException("The QEMU monitor of 'g' closed (QEMU exited or the connection dropped)."))!;
        // QEMU ended under the call: the domain's state changed (409 / VIR_ERR_OPERATION_INVALID), not a server fault.
        Assert.Equal(Vireo.Engine.ErrorCode.InvalidOperation, gone.Code);
        Assert.EndsWith("The domain is no longer running.", gone.Message);
        Assert.Equal(Vireo.Engine.ErrorCode.OperationFailed, Vireo.Engine.Failures.Classify(new Vireo.Qemu.QmpErrorException("device_add", "GenericError", "Duplicate ID"))!.Code);
        Assert.Equal(Vireo.Engine.ErrorCode.InvalidArgument, Vireo.Engine.Failures.Classify(new ArgumentException("Null character in path."))!.Code);
        Assert.Equal(Vireo.Engine.ErrorCode.Timeout, Vireo.Engine.Failures.Classify(new TimeoutException("slow"))!.Code);
        Assert.Equal(Vireo.Engine.ErrorCode.OperationFailed, Vireo.Engine.Failures.Classify(new Vireo.Host.LinkException("RTNETLINK answers: File exists"))!.Code);
        Assert.Null(Vireo.Engine.Failures.Classify(new NullReferenceException())); // a bug, logged with its stack
    }
}
