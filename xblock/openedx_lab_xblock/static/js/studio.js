/* Studio editor of LabXBlock: saves the display name and lab, which the server checks against
 * the orchestrator's catalog (and takes the lab's graded checks from), the terminal settings,
 * and how checks are graded and shown. */
function LabXBlockStudio(runtime, element) {
  'use strict';
  var $el = $(element);
  var $message = $el.find('.openedx-lab-studio-message');

  $el.find('.save-button').on('click', function (event) {
    event.preventDefault();
    var data = {
      display_name: $el.find('[name=display_name]').val(),
      lab_name: $el.find('[name=lab_name]').val(),
      terminal_enabled: $el.find('[name=terminal_enabled]').prop('checked'),
      terminal_read_only: $el.find('[name=terminal_read_only]').prop('checked'),
      weight: $el.find('[name=weight]').val(),
      grade_policy: $el.find('[name=grade_policy]').val(),
      show_check_results: $el.find('[name=show_check_results]').prop('checked'),
      show_hints: $el.find('[name=show_hints]').prop('checked')
    };
    runtime.notify('save', { state: 'start', message: 'Saving' });
    $.ajax({
      type: 'POST',
      url: runtime.handlerUrl(element, 'studio_submit'),
      data: JSON.stringify(data),
      contentType: 'application/json',
      dataType: 'json'
    }).done(function () {
      runtime.notify('save', { state: 'end' });
    }).fail(function (xhr) {
      var text = (xhr.responseJSON && xhr.responseJSON.error) || 'The lab could not be saved.';
      $message.text(text);
      runtime.notify('error', { title: 'Not saved', message: text });
    });
  });

  $el.find('.cancel-button').on('click', function (event) {
    event.preventDefault();
    runtime.notify('cancel', {});
  });
}
