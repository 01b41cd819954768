using System.Security;
using Vireo.Host;
using Vireo.Model;

namespace Vireo.Engine;

/// <summary>What an install made, in the words `vireo install` prints.</summary>
public sealed record InstallOutcome(Vm Vm, IReadOnlyList<string> Lines);

/// <summary>
/// Carries out an <see cref="InstallPlan"/> (from <see cref="InstallBuilder"/>): the installer's
/// kernel out of --location's media, the new volumes (linked clones of a backing image
/// included), the cloud-init seed, then define (or a transient create), autostart and start.
/// The same code behind `vireo install` (POST /v1/install) and the web console's wizard. A step
/// that fails removes what the earlier ones made.
/// </summary>
public sealed class Installer(Hypervisor hv)
{
    /// <param name="progress">Percent of a remote --location's kernel and initrd downloaded (nothing else reports).</param>
    public async Task<InstallOutcome> RunAsync(InstallPlan plan, IReadOnlyList<(string Name, string Text)>? seed, bool transient, bool autostart, bool start,
        CancellationToken ct, IProgress<double>? progress = null)
    {
        var dom = plan.Domain;
        if (hv.All().Any(v => v.Name == dom.Name))
            throw new VireoException(ErrorCode.InvalidOperation, $"Domain '{dom.Name}' already exists; pick another --name (or 'vireo undefine {dom.Name}' first).");
        if (plan.NewDisks.FirstOrDefault(n => n.Pool is null) is { } file)
            throw new VireoException(ErrorCode.InvalidArgument, $"--disk path={file.Path},size= would create a file outside every pool; create it in a pool (pool=default,size=N) or make it first (vireo vol-create-as).");
        if (plan.CloudInit is not null && seed is null)
            throw new VireoException(ErrorCode.InvalidArgument, "--cloud-init needs the seed's files (user-data, meta-data).");
        var lines = new List<string>();
        // Whatever ends it (a cancelled request too), nothing half-made stays: volumes and copied
        // kernels go again. A defined domain stays, with its disks, as virt-install leaves it.
        await using var revert = new Reverter(e => Log.UndoFailed(hv.EngineLog, e, dom.Name));
        try
        {
            if (plan.Location is { } lp)
            {
                var found = await InstallMedia.LocateAsync(lp.Source, lp.Kernel, lp.Initrd, ct);
                var bootDir = hv.Options.BootDir(dom.Name);
                revert.Add(() => { if (Directory.Exists(bootDir)) Directory.Delete(bootDir, recursive: true); });
                (dom.Os.Kernel, dom.Os.Initrd) = await InstallMedia.ExtractAsync(lp.Source, found, bootDir, ct, progress);
                dom.Os.Cmdline = InstallMedia.Cmdline(lp.Source, found, dom.Os.Cmdline);
                lines.Add($"{(LocationPlan.IsRemote(lp.Source) ? "Retrieved" : "Copied")} the {found.Distro} installer's kernel and initrd ({found.KernelInside}, {found.InitrdInside}) for the first run");
            }
            foreach (var nd in plan.NewDisks)
            {
                var v = await hv.Storage.CreateAsync(nd.Pool!, new VolumeDef
                {
                    Name = nd.Name, Capacity = nd.SizeBytes, Format = nd.Format, BackingPath = nd.BackingStore, BackingFormat = nd.BackingFormat,
                }, null, ct);
                revert.Add(() => hv.Storage.DeleteAsync(v.Pool, v.Name, force: true, CancellationToken.None));
                lines.Add(nd.BackingStore is null
                    ? $"Allocating '{v.Name}' ({Units.Bytes(v.Capacity)}) in pool '{v.Pool}'"
                    : $"Allocating '{v.Name}' ({Units.Bytes(v.Capacity)}) in pool '{v.Pool}', a linked clone of {nd.BackingStore}");
            }
            if (plan.CloudInit is { } ci)
            {
                var iso = new MemoryStream();
                Iso9660.Write(iso, "cidata", seed!.Select(f => IsoFile.FromText(f.Name, f.Text)));
                await hv.Storage.CreateAsync(ci.Pool, new VolumeDef { Name = ci.Volume, Capacity = (ulong)iso.Length, Format = "raw" }, null, ct);
                revert.Add(() => hv.Storage.DeleteAsync(ci.Pool, ci.Volume, force: true, CancellationToken.None));
                iso.Position = 0;
                await hv.Storage.UploadAsync(ci.Pool, ci.Volume, iso, 0, iso.Length, ct);
                lines.Add($"Made the cloud-init seed '{ci.Volume}' ({string.Join(", ", seed!.Select(f => f.Name))}) in pool '{ci.Pool}'; it is removed after the first run");
            }
            Vm vm;
            if (transient)
            {
                var def = DomainRules.ParseForDefine(DomainXml.Write(dom));
                hv.PrepareFirmware(def);
                vm = hv.AddTransient(def);
            }
            else vm = hv.Define(DomainXml.Write(dom)).Vm;
            if (!transient) revert.Commit();
            if (autostart && !transient) hv.SetAutostart(vm.Name, true);
            lines.Add($"Creating {(transient ? "transient " : "")}domain '{vm.Name}' ({dom.Vcpus} vCPU, {dom.MemoryKiB / 1024} MiB, {dom.Type}, os-variant {plan.Os.Name})");
            if (start || transient)
            {
                try { await vm.StartAsync(paused: false, ct); }
                catch when (transient)
                {
                    hv.Forget(vm);
                    throw;
                }
            }
            revert.Commit();
            return new InstallOutcome(vm, lines);
        }
        catch (DefinitionException e)
        {
            throw VireoException.Invalid(e);
        }
    }
}
