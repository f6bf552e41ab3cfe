/**
 * coprod: tell the coprod webhook app that a new form response has arrived in this spreadsheet.
 *
 * The app then re-checks the project and writes any new flags back into the spreadsheet within
 * seconds, instead of waiting for the nightly sync. Only WHERE the new row is (spreadsheet, tab,
 * row number) is sent, never the answers in it: the app reads the sheet itself.
 *
 * Set up (once, by the person who owns the spreadsheet):
 * 1. Extensions > Apps Script. Paste this whole file into Code.gs and save.
 * 2. Project Settings (the cog) > Script Properties > Add script property, twice:
 *      COPROD_WEBHOOK_URL      https://your-server.example.org/hooks/sheets/<recipe name>
 *      COPROD_WEBHOOK_SECRET   whsec_...  (the same value as the recipe's secret in the server's .env)
 * 3. Back in the editor, choose installCoprodTrigger in the toolbar, press Run, accept the permissions.
 *
 * Each notice is signed as Standard Webhooks says (headers webhook-id, webhook-timestamp and
 * webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>"), so the app can tell it came
 * from this script and was not replayed. Writes the app makes do not fire the trigger again.
 */

var COPROD_HANDLER = 'coprodOnFormSubmit';
var COPROD_RETRY_SECONDS = [0, 2, 5];

/** Run once from the editor: adds the "on form submit" trigger (again running it changes nothing). */
function installCoprodTrigger() {
  coprodConfig_(); // fail now, in front of the person, if the properties are missing
  var spreadsheet = SpreadsheetApp.getActiveSpreadsheet();
  var installed = ScriptApp.getProjectTriggers().some(function (trigger) {
    return trigger.getHandlerFunction() === COPROD_HANDLER;
  });
  if (!installed) {
    ScriptApp.newTrigger(COPROD_HANDLER).forSpreadsheet(spreadsheet).onFormSubmit().create();
  }
  return installed ? 'coprod trigger was already installed' : 'coprod trigger installed';
}

/** The installable onFormSubmit trigger: sends a signed notice about the new row. */
function coprodOnFormSubmit(e) {
  var config = coprodConfig_();
  var sheet = e.range.getSheet();
  var notice = {
    type: 'sheets.form_submit',
    spreadsheet_id: sheet.getParent().getId(),
    sheet: sheet.getName(),
    row: e.range.getRow()
  };
  var request = coprodSignedRequest_(
    config.url,
    config.secret,
    coprodAsciiJson_(notice),
    'msg_' + Utilities.getUuid(),
    Math.floor(Date.now() / 1000)
  );
  return coprodSend_(request);
}

function coprodConfig_() {
  var properties = PropertiesService.getScriptProperties();
  var url = properties.getProperty('COPROD_WEBHOOK_URL');
  var secret = properties.getProperty('COPROD_WEBHOOK_SECRET');
  if (!url || !secret) {
    throw new Error('coprod: add COPROD_WEBHOOK_URL and COPROD_WEBHOOK_SECRET in Project Settings > Script Properties');
  }
  if (secret.indexOf('whsec_') !== 0) {
    throw new Error('coprod: COPROD_WEBHOOK_SECRET must start with whsec_ (copy it from the server .env)');
  }
  return { url: url, secret: secret };
}

/**
 * JSON with every character beyond ASCII written as a \u escape (a tab named "Réponses" stays
 * readable to the app), so the bytes signed and sent do not depend on a character set.
 */
function coprodAsciiJson_(value) {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, function (c) {
    return '\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4);
  });
}

/**
 * The Standard Webhooks signature: HMAC-SHA256, keyed with the base64-decoded part of the secret
 * after "whsec_", over the UTF-8 bytes of "<webhook-id>.<webhook-timestamp>.<body>".
 */
function coprodSign_(secret, msgId, timestamp, body) {
  var key = Utilities.base64Decode(secret.substring('whsec_'.length));
  var signed = Utilities.newBlob(msgId + '.' + timestamp + '.' + body).getBytes();
  var mac = Utilities.computeHmacSha256Signature(signed, key);
  // mac holds Java bytes (-128..127): base64Encode takes them as they are. Only a hex string
  // would need each byte masked with & 0xff first.
  return 'v1,' + Utilities.base64Encode(mac);
}

/** The request UrlFetchApp sends: the body as the exact UTF-8 bytes that were signed. */
function coprodSignedRequest_(url, secret, body, msgId, timestamp) {
  return {
    url: url,
    options: {
      method: 'post',
      contentType: 'application/json',
      payload: Utilities.newBlob(body).getBytes(),
      headers: {
        'webhook-id': msgId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': coprodSign_(secret, msgId, timestamp, body)
      },
      muteHttpExceptions: true,
      followRedirects: false
    }
  };
}

/**
 * Send, retrying a busy or unreachable server briefly with the same webhook-id (the app ignores
 * a second copy). If it still fails, the nightly sync picks the response up anyway.
 */
function coprodSend_(request) {
  for (var i = 0; i < COPROD_RETRY_SECONDS.length; i++) {
    if (COPROD_RETRY_SECONDS[i] > 0) {
      Utilities.sleep(COPROD_RETRY_SECONDS[i] * 1000);
    }
    var response;
    try {
      response = UrlFetchApp.fetch(request.url, request.options);
    } catch (err) {
      console.warn('coprod: the webhook app could not be reached (' + err.message + ')');
      continue;
    }
    var code = response.getResponseCode();
    if (code < 300) {
      return code;
    }
    if ([429, 502, 503, 504].indexOf(code) === -1) {
      console.warn('coprod: the webhook app refused the notice (HTTP ' + code + '): check the URL and secret');
      return code;
    }
  }
  console.warn('coprod: the webhook app is busy; the nightly sync will pick this response up');
  return 0;
}
