using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Primitives;

namespace Sockeye.Testing.Origins;

/// <summary>What an <see cref="OriginServer"/> serves; see its summary for the list.</summary>
internal static class OriginEndpoints
{
    private static readonly string[] GetOrHead = [HttpMethods.Get, HttpMethods.Head];

    public static void Map(IEndpointRouteBuilder app, GitHttpBackend git)
    {
        app.MapGet("/hello", static context => WriteTextAsync(context, OriginServer.HelloBody));
        app.MapPost("/echo", EchoAsync);
        app.MapMethods("/bytes/{n}", GetOrHead, static context => BytesAsync(context, flushes: 1));
        app.MapMethods("/chunked/{n}", GetOrHead, static context => BytesAsync(context, flushes: 4));
        app.MapMethods("/status/{code}", GetOrHead, StatusAsync);
        app.MapGet("/headers", HeadersAsync);
        app.MapGet("/source", static context => WriteTextAsync(context, context.Connection.RemoteIpAddress?.ToString() ?? ""));
        app.MapMethods("/git/{**path}", [HttpMethods.Get, HttpMethods.Post], git.HandleAsync);
    }

    private static async Task EchoAsync(HttpContext context)
    {
        context.Response.ContentType = context.Request.ContentType ?? "application/octet-stream";
        context.Response.ContentLength = context.Request.ContentLength;
        await context.Request.Body.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    /// <summary>
    /// <c>n</c> bytes of <see cref="OriginContent"/>: with one flush, behind a Content-Length; with several, written in
    /// that many pieces (at most 16 KiB each) with no Content-Length, so HTTP/1.1 sends them chunked.
    /// </summary>
    private static async Task BytesAsync(HttpContext context, int flushes)
    {
        if (!TryGetRouteInt(context, "n", 0, OriginContent.MaxBytes, out int count))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        HttpResponse response = context.Response;
        response.ContentType = "application/octet-stream";
        if (flushes == 1)
        {
            response.ContentLength = count;
        }
        else
        {
            // The headers go now, without a length: from here on Kestrel can only frame the body in chunks.
            await response.StartAsync(context.RequestAborted);
        }

        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }

        int piece = flushes == 1 ? count : Math.Clamp((count + flushes - 1) / flushes, 1, 16 * 1024);
        long offset = 0;
        while (offset < count)
        {
            long pieceEnd = Math.Min(count, offset + piece);
            while (offset < pieceEnd)
            {
                ReadOnlyMemory<byte> slice = OriginContent.Slice(offset, (int)(pieceEnd - offset));
                await response.Body.WriteAsync(slice, context.RequestAborted);
                offset += slice.Length;
            }

            if (flushes > 1)
            {
                await response.Body.FlushAsync(context.RequestAborted);
            }
        }
    }

    private static Task StatusAsync(HttpContext context)
    {
        context.Response.StatusCode = TryGetRouteInt(context, "code", 200, 599, out int code) ? code : StatusCodes.Status400BadRequest;
        return Task.CompletedTask;
    }

    /// <summary>Every request header as a line <c>Name: value</c> (one line per value), in the order Kestrel keeps them.</summary>
    private static Task HeadersAsync(HttpContext context)
    {
        var text = new StringBuilder();
        foreach (KeyValuePair<string, StringValues> header in context.Request.Headers)
        {
            foreach (string? value in header.Value)
            {
                text.Append(header.Key).Append(": ").Append(value).Append('\n');
            }
        }

        return WriteTextAsync(context, text.ToString());
    }

    /// <summary>A text body behind a Content-Length, as a simple origin would send it.</summary>
    private static Task WriteTextAsync(HttpContext context, string text)
    {
        byte[] body = Encoding.UTF8.GetBytes(text);
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private static bool TryGetRouteInt(HttpContext context, string name, int min, int max, out int value) =>
        int.TryParse(context.Request.RouteValues[name] as string, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
}
