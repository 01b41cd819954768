using Vireo.Engine;

namespace Vireo.Libvirt;

/// <summary>
/// The calls that open a stream: a domain's console (virsh console), volume upload and download
/// (virsh vol-upload / vol-download), and screenshots. Each checks its arguments before the
/// reply, so a bad call fails as a call; the data then flows on the stream.
/// </summary>
internal sealed partial class RemoteCalls
{
    private async Task<StreamWork?> StreamCallAsync(Proc proc, XdrReader a, XdrWriter r, CancellationToken ct)
    {
        switch (proc)
        {
            case Proc.DomainOpenConsole:
            {
                var vm = Domain(a);
                var device = a.OptString();
                // virDomainConsoleFlags: FORCE 1 (take over an open session), SAFE 2 (Vireo's consoles always are).
                var flags = CheckFlags(a.UInt(), 3, "virDomainOpenConsole");
                var pty = vm.OpenConsole(force: (flags & 1) != 0, device);
                return new StreamWork(TakesData: true, (s, c) => ConsoleAsync(vm, pty, s, c));
            }
            case Proc.StorageVolUpload:
            {
                var v = Volume(a);
                var (offset, length) = Range(a);
                CheckFlags(a.UInt(), 0, "virStorageVolUpload"); // SPARSE_STREAM (1) is not offered
                hv.Storage.CheckUpload(v.Pool, v.Name, offset);
                return new StreamWork(TakesData: true, (s, c) => UploadAsync(v, offset, length, s, c));
            }
            case Proc.StorageVolDownload:
            {
                var v = Volume(a);
                var (offset, length) = Range(a);
                CheckFlags(a.UInt(), 0, "virStorageVolDownload");
                var (file, count) = hv.Storage.OpenRead(v.Pool, v.Name, offset, length);
                return new StreamWork(TakesData: false, (s, c) => SendFileAsync(file, count, null, s, c));
            }
            case Proc.DomainScreenshot:
            {
                var vm = Domain(a);
                var screen = a.UInt();
                CheckFlags(a.UInt(), 0, "virDomainScreenshot");
                var path = await vm.ScreenshotAsync(screen, ct);
                var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, useAsync: true);
                r.OptString("image/x-portable-pixmap");
                return new StreamWork(TakesData: false, (s, c) => SendFileAsync(file, file.Length, path, s, c));
            }
            default:
                throw NotSupported(proc);
        }
    }

    /// <summary>Upload and download's offset and length (0: to the end), as the engine takes them.</summary>
    private static (long Offset, long? Length) Range(XdrReader a)
    {
        var offset = a.UHyper();
        var length = a.UHyper();
        return ((long)Math.Min(offset, long.MaxValue), length == 0 ? null : (long)Math.Min(length, long.MaxValue));
    }

    /// <summary>Sends a file's bytes, then the end, then waits for the client's finish; removes the file after when asked (a screenshot's).</summary>
    private static async Task SendFileAsync(FileStream file, long count, string? removeAfter, RemoteStream s, CancellationToken ct)
    {
        try
        {
            var buf = new byte[RemoteStream.ChunkMax];
            try
            {
                while (count > 0)
                {
                    var n = await file.ReadAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, count)), s.Token);
                    if (n == 0) break;
                    await s.SendDataAsync(buf.AsMemory(0, n), s.Token);
                    count -= n;
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                await s.ConfirmAsync(ct); // the client aborted
                return;
            }
            catch (IOException e)
            {
                await s.SendErrorAsync(new RpcError(VirErrorCode.OperationFailed, $"operation failed: cannot read {file.Name}: {e.Message}", VirErrorDomain.Storage), ct);
                return;
            }
            await s.SendEndAsync(ct);
            await s.AwaitEndAsync(ct);
        }
        finally
        {
            await file.DisposeAsync();
            if (removeAfter is not null) File.Delete(removeAfter);
        }
    }

    /// <summary>The client's data into the volume through the engine's upload, which measures the volume again at the end.</summary>
    private async Task UploadAsync(VolumeState v, long offset, long? length, RemoteStream s, CancellationToken ct)
    {
        var pipe = new System.IO.Pipelines.Pipe();
        var upload = hv.Storage.UploadAsync(v.Pool, v.Name, pipe.Reader.AsStream(), offset, length, ct);
        // When the engine stops reading (done, or failed), writes into the pipe return at once instead of waiting.
        _ = upload.ContinueWith(_ => pipe.Reader.Complete(), TaskScheduler.Default);
        try
        {
            await foreach (var p in s.Incoming.ReadAllAsync(ct))
            {
                if (upload.IsFaulted) break;
                switch (p.Kind)
                {
                    case StreamPacketKind.Data:
                        await pipe.Writer.WriteAsync(p.Data, ct);
                        continue;
                    case StreamPacketKind.Finish:
                        await pipe.Writer.CompleteAsync();
                        await upload;
                        await s.ConfirmAsync(ct);
                        return;
                    default: // abort: what came so far stays written, as with libvirt
                        await pipe.Writer.CompleteAsync();
                        try { await upload; } catch (VireoException) { }
                        await s.ConfirmAsync(ct);
                        return;
                }
            }
            // Here the engine failed (its error goes to the client) or the connection ended.
            await pipe.Writer.CompleteAsync(upload.IsCompleted ? null : new OperationCanceledException("the client went away"));
            await upload;
        }
        catch (VireoException e) { await s.SendErrorAsync(ToRpc(e), ct); }
        catch (IOException e) { await s.SendErrorAsync(new RpcError(VirErrorCode.OperationFailed, $"operation failed: cannot write volume '{v.Name}': {e.Message}", VirErrorDomain.Storage), ct); }
    }

    /// <summary>
    /// A console: the guest's output to the client, the client's keys to the guest. When the guest
    /// stops, the pty hangs up and the client gets the end of the stream (virsh console then exits).
    /// </summary>
    private static async Task ConsoleAsync(Vm vm, Stream pty, RemoteStream s, CancellationToken ct)
    {
        var closing = false;
        // pty reads block in short polls (FdStream): a thread of their own.
        var fromGuest = Task.Factory.StartNew(async () =>
        {
            var buf = new byte[4096];
            try
            {
                while (true)
                {
                    var n = pty.Read(buf, 0, buf.Length);
                    if (n <= 0) break;
                    await s.SendDataAsync(buf.AsMemory(0, n), ct);
                }
                if (!Volatile.Read(ref closing)) await s.SendEndAsync(ct);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or System.Net.Sockets.SocketException) { }
        }, TaskCreationOptions.LongRunning).Unwrap();
        try
        {
            await foreach (var p in s.Incoming.ReadAllAsync(ct))
            {
                if (p.Kind == StreamPacketKind.Data)
                {
                    pty.Write(p.Data.Span);
                    pty.Flush();
                    continue;
                }
                Volatile.Write(ref closing, true);
                await s.ConfirmAsync(ct);
                break;
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or System.Net.Sockets.SocketException) { }
        finally
        {
            Volatile.Write(ref closing, true);
            vm.CloseConsole(pty);
            await fromGuest;
        }
    }
}
